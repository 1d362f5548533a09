//! Turning object_store and Parquet errors into sluice errors. object_store's texts hold no
//! credentials; its generic errors (network, throttling) are
//! [`ErrorKind::Transient`](sluice_core::ErrorKind::Transient), the rest destination errors.
//! No message names the destination: the pipeline adds that once.

use object_store::path::Path as ObjectPath;
use sluice_core::Error;

/// Map an object_store error (whose text holds no credentials) to a destination error.
pub(crate) fn store_err(
    context: impl std::fmt::Display,
) -> impl FnOnce(object_store::Error) -> Error {
    move |e| {
        let transient = matches!(e, object_store::Error::Generic { .. });
        let msg = context.to_string();
        if transient {
            Error::transient(msg).with_source(e)
        } else {
            Error::destination(msg).with_source(e)
        }
    }
}

/// An object that cannot be read as Parquet (or whose bytes do not arrive).
pub(crate) fn read_error(
    path: &ObjectPath,
    e: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::destination(format!("cannot read {path}")).with_source(e)
}

/// A system file (`_dlt_version`, `_dlt_pipeline_state`) whose content is not what was written.
pub(crate) fn bad_system_file(path: &ObjectPath, problem: &str) -> Error {
    Error::input(format!("{path} {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_store_errors_are_transient_and_name_no_destination() {
        let generic = object_store::Error::Generic {
            store: "S3",
            source: "connection reset".into(),
        };
        let e = store_err("cannot write a/b")(generic);
        assert_eq!(e.kind(), sluice_core::ErrorKind::Transient);
        assert_eq!(e.message(), "cannot write a/b");
        let missing = object_store::Error::NotFound {
            path: "a/b".into(),
            source: "gone".into(),
        };
        let e = store_err("cannot read a/b")(missing);
        assert_eq!(e.kind(), sluice_core::ErrorKind::Destination);
    }
}
