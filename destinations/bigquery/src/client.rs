//! The client side: authentication (service account, access token, application-default
//! credentials) and queries through gcp-bigquery-client (jobs.query, then the result pages).

use crate::config::{BigQuerySettings, Credentials};
use crate::error::{auth_error, bq_error, error_from_protos};
use async_trait::async_trait;
use gcp_bigquery_client::auth::Authenticator;
use gcp_bigquery_client::error::BQError;
use gcp_bigquery_client::model::data_format_options::DataFormatOptions;
use gcp_bigquery_client::model::get_query_results_parameters::GetQueryResultsParameters;
use gcp_bigquery_client::model::query_request::QueryRequest;
use gcp_bigquery_client::model::query_response::QueryResponse;
use gcp_bigquery_client::model::table_field_schema::TableFieldSchema;
use gcp_bigquery_client::model::table_row::TableRow;
use sluice_core::sql::statement_kind;
use sluice_core::{Error, Result, Secret};
use std::sync::Arc;

const SCOPE: &str = "https://www.googleapis.com/auth/bigquery";

/// A fixed token (an `access_token` credential, or an empty one for an emulator).
#[derive(Clone)]
struct FixedToken(Secret);

#[async_trait]
impl Authenticator for FixedToken {
    async fn access_token(&self) -> std::result::Result<String, BQError> {
        Ok(self.0.expose().to_string())
    }
}

/// A yup-oauth2 authenticator (service account or application-default credentials).
#[derive(Clone)]
struct YupToken(gcp_bigquery_client::yup_oauth2::authenticator::DefaultAuthenticator);

#[async_trait]
impl Authenticator for YupToken {
    async fn access_token(&self) -> std::result::Result<String, BQError> {
        Ok(self
            .0
            .token(&[SCOPE])
            .await?
            .token()
            .ok_or(BQError::NoToken)?
            .to_string())
    }
}

/// Build the authenticator for the configured credentials.
pub(crate) async fn authenticator(settings: &BigQuerySettings) -> Result<Arc<dyn Authenticator>> {
    use gcp_bigquery_client::yup_oauth2 as yup;
    let auth_err = |what: &str, e: std::io::Error| auth_error(what, &settings.project_id, e);
    Ok(match &settings.credentials {
        Credentials::AccessToken(t) => Arc::new(FixedToken(t.clone())),
        Credentials::Anonymous => Arc::new(FixedToken(Secret::new("anonymous"))),
        Credentials::ServiceAccount {
            client_email,
            private_key,
            private_key_id,
            token_uri,
        } => {
            let key = yup::ServiceAccountKey {
                key_type: Some("service_account".into()),
                project_id: Some(settings.project_id.clone()),
                private_key_id: private_key_id.clone(),
                private_key: private_key.expose().to_string(),
                client_email: client_email.clone(),
                client_id: None,
                auth_uri: None,
                token_uri: token_uri.clone(),
                auth_provider_x509_cert_url: None,
                client_x509_cert_url: None,
            };
            // The key's text never reaches the message: yup's errors name the problem only.
            let auth = yup::ServiceAccountAuthenticator::builder(key)
                .build()
                .await
                .map_err(|e| auth_err("the service account", e))?;
            Arc::new(YupToken(auth))
        }
        Credentials::ApplicationDefault => {
            let opts = yup::ApplicationDefaultCredentialsFlowOpts::default();
            let auth = match yup::ApplicationDefaultCredentialsAuthenticator::builder(opts).await {
                yup::authenticator::ApplicationDefaultCredentialsTypes::InstanceMetadata(a) => {
                    a.build().await
                }
                yup::authenticator::ApplicationDefaultCredentialsTypes::ServiceAccount(a) => {
                    a.build().await
                }
            }
            .map_err(|e| auth_err("application-default credentials", e))?;
            Arc::new(YupToken(auth))
        }
    })
}

/// The result of one statement: rows (with schema) and DML counts.
#[derive(Debug, Default)]
pub struct QueryResult {
    /// Result fields.
    pub fields: Vec<TableFieldSchema>,
    /// All rows.
    pub rows: Vec<TableRow>,
    /// Rows changed by a DML statement.
    pub dml_rows: u64,
}

/// Run one statement with jobs.query, wait for it, and page through all rows.
pub(crate) async fn run_query(
    client: &gcp_bigquery_client::Client,
    settings: &BigQuerySettings,
    sql: &str,
    context: &str,
) -> Result<QueryResult> {
    let mut req = QueryRequest::new(sql);
    req.use_legacy_sql = false;
    req.location = Some(settings.location.clone());
    req.timeout_ms = Some(60_000);
    req.format_options = Some(DataFormatOptions {
        use_int64_timestamp: Some(true),
    });
    tracing::trace!(target: "sluice::bigquery", statement = %statement_kind(sql), "query");
    let mut resp: QueryResponse = client
        .job()
        .query(&settings.project_id, req)
        .await
        .map_err(|e| bq_error(context, e))?;
    loop {
        if let Some(errors) = resp.errors.as_ref().filter(|e| !e.is_empty()) {
            return Err(error_from_protos(context, errors));
        }
        if resp.job_complete.unwrap_or(true) {
            break;
        }
        let job_id = job_id_of(&resp, context)?;
        resp = client
            .job()
            .get_query_results(
                &settings.project_id,
                &job_id,
                GetQueryResultsParameters {
                    location: Some(settings.location.clone()),
                    timeout_ms: Some(60_000),
                    format_options: Some(DataFormatOptions {
                        use_int64_timestamp: Some(true),
                    }),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| bq_error(context, e))?
            .into();
    }
    let mut out = QueryResult {
        fields: resp
            .schema
            .as_ref()
            .and_then(|s| s.fields.clone())
            .unwrap_or_default(),
        dml_rows: resp
            .num_dml_affected_rows
            .as_deref()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        rows: resp.rows.take().unwrap_or_default(),
    };
    let mut page_token = resp.page_token.clone();
    while let Some(token) = page_token.filter(|t| !t.is_empty()) {
        let job_id = job_id_of(&resp, context)?;
        let page = client
            .job()
            .get_query_results(
                &settings.project_id,
                &job_id,
                GetQueryResultsParameters {
                    location: Some(settings.location.clone()),
                    page_token: Some(token),
                    format_options: Some(DataFormatOptions {
                        use_int64_timestamp: Some(true),
                    }),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| bq_error(context, e))?;
        if let Some(errors) = page.errors.as_ref().filter(|e| !e.is_empty()) {
            return Err(error_from_protos(context, errors));
        }
        out.rows.extend(page.rows.unwrap_or_default());
        page_token = page.page_token;
    }
    Ok(out)
}

fn job_id_of(resp: &QueryResponse, context: &str) -> Result<String> {
    resp.job_reference
        .as_ref()
        .and_then(|r| r.job_id.clone())
        .ok_or_else(|| Error::destination(format!("{context}: the answer has no job id")))
}
