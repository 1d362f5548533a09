//! `sluice destinations`: what destinations this build has, and how to configure one.

use crate::args::{DestinationsArgs, DestinationsCommand};

/// List the destinations, or describe one.
pub fn run(args: DestinationsArgs) -> anyhow::Result<()> {
    let registry = sluice::registry();
    match args.command {
        None => {
            for f in registry.factories() {
                let c = f.capabilities();
                let merges: Vec<String> = c
                    .merge_strategies
                    .iter()
                    .map(|s| format!("{s:?}").to_lowercase())
                    .collect();
                println!(
                    "{:<12} identifiers up to {} chars, transactions: {}, merge: {}",
                    f.name(),
                    c.max_identifier_length,
                    if c.supports_transactions { "yes" } else { "no" },
                    if merges.is_empty() {
                        "appends".to_string()
                    } else {
                        merges.join(", ")
                    }
                );
            }
            println!("\n`sluice destinations describe NAME` shows how to configure one.");
        }
        Some(DestinationsCommand::Describe { name }) => {
            let f = registry.get(&name)?;
            let c = f.capabilities();
            let keys = f.config_keys();
            let list = |k: &[&str]| {
                if k.is_empty() {
                    "(none)".to_string()
                } else {
                    k.join(", ")
                }
            };
            let strategies: Vec<String> = c
                .merge_strategies
                .iter()
                .map(|s| format!("{s:?}").to_lowercase())
                .collect();
            println!("Destination {}", f.name());
            println!(
                "  settings in [destination.{}]: credentials, {}",
                f.name(),
                list(&keys.settings)
            );
            println!(
                "  keys in [destination.{}.credentials]: {}",
                f.name(),
                list(&keys.credentials)
            );
            println!(
                "  environment: DESTINATION__{}__<KEY> and DESTINATION__{}__CREDENTIALS__<KEY>",
                f.name().to_uppercase(),
                f.name().to_uppercase()
            );
            println!(
                "  identifiers up to {} characters ({:?} case), quoted with {}",
                c.max_identifier_length, c.casefold, c.identifier_quote
            );
            println!(
                "  loads in one transaction: {}; merge strategies: {}; columns per table: {}",
                if c.supports_transactions { "yes" } else { "no" },
                if strategies.is_empty() {
                    "none (merge tables are appended)".to_string()
                } else {
                    strategies.join(", ")
                },
                c.max_columns_per_table
                    .map_or_else(|| "no limit".to_string(), |n| n.to_string())
            );
            println!("\nExample (.sluice/secrets.toml):\n");
            print!("{}", f.example_config());
        }
    }
    Ok(())
}
