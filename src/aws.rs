//! The SDK configuration and clients: region, profile, endpoint, CA bundle, retries, timeouts.

use anyhow::{Context, Result, anyhow};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls;
use std::path::PathBuf;
use std::time::Duration;

use crate::spec::{self, Target};

/// Where and as whom to talk to AWS; each `None` falls back to aws-config's usual chain.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub ca_bundle: Option<PathBuf>,
}

/// One client per service tapctl talks to.
#[derive(Clone)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sts: aws_sdk_sts::Client,
}

/// Throttling and 5xx answers are retried by the SDK (standard mode: token bucket, jittered
/// exponential backoff); tapctl's own retries cover only eventual-consistency errors.
const MAX_ATTEMPTS: u32 = 8;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(20);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// One call, all its attempts and backoffs included: an endpoint that stops answering in the
/// middle of a run fails that run within this, not after 8 attempt timeouts.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(90);
/// Bounds the start-up identity check: an unreachable endpoint fails within it.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(25);

pub async fn sdk_config(opts: &Options) -> Result<SdkConfig> {
    if let Some(profile) = &opts.profile {
        check_profile(profile)?;
    }
    if let (Some(url), Some(ca)) = (&opts.endpoint_url, &opts.ca_bundle)
        && url.to_ascii_lowercase().starts_with("http://")
    {
        return Err(anyhow!(
            "the endpoint {url} is plain HTTP but a CA bundle ({}) was given for TLS: use an \
             https:// endpoint, or drop the CA bundle",
            ca.display()
        ));
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(5)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        );
    if let Some(profile) = &opts.profile {
        loader = loader.profile_name(profile);
    }
    // Without --region the loader's own chain (AWS_REGION, the profile's region, IMDS) runs,
    // with the profile named above and tapctl's HTTP client; us-west-2 when it finds none.
    if let Some(region) = &opts.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    // tapctl builds its one HTTPS client itself (rustls with ring): aws-lc, the SDK's default,
    // seeds its random generator from CPU jitter at start-up, ~20 ms of every run.
    let trust = match &opts.ca_bundle {
        None => tls::TrustStore::default(),
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the CA bundle {}", path.display()))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(anyhow!(
                    "the CA bundle {} holds no PEM certificate",
                    path.display()
                ));
            }
            // The bundle replaces the system roots, as AWS_CA_BUNDLE does for the AWS CLI and
            // boto3. Loading and parsing the system roots (/etc/ssl/certs) cost ~70 ms per run
            // (measured with strace on the 2-core dev machine), half an in-sync `status`.
            tls::TrustStore::empty().with_pem_certificate(pem)
        }
    };
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .context("cannot set up TLS")?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(context)
        .build_https();
    loader = loader.http_client(http);
    let config = loader.load().await;
    if config.region().is_some() {
        return Ok(config);
    }
    Ok(config
        .into_builder()
        .region(Region::from_static(spec::DEFAULT_REGION))
        .build())
}

impl Clients {
    pub fn new(config: &SdkConfig, custom_endpoint: bool) -> Self {
        // Every client logs its calls for `-v` (crate::calls).
        let log = crate::calls::CallLog;
        // An emulator on 127.0.0.1 has no per-bucket host names: use path-style addressing.
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(custom_endpoint)
            .interceptor(log)
            .build();
        Clients {
            s3: aws_sdk_s3::Client::from_conf(s3),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(config)
                    .interceptor(log)
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(config)
                    .interceptor(log)
                    .build(),
            ),
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(config)
                    .interceptor(log)
                    .build(),
            ),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(config)
                    .interceptor(log)
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(config)
                    .interceptor(log)
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(config)
                    .interceptor(log)
                    .build(),
            ),
        }
    }
}

/// Connects and asks STS who we are: proves credentials and endpoint before anything else,
/// and gives the account and partition the names need.
pub async fn connect(opts: &Options, suffix: &str) -> Result<(Clients, Target)> {
    let config = sdk_config(opts).await?;
    let region = config
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| spec::DEFAULT_REGION.to_string());
    let custom_endpoint = config.endpoint_url().is_some();
    check_region(&region)?;
    check_credentials(&config).await?;
    let clients = Clients::new(&config, custom_endpoint);
    let call = clients.sts.get_caller_identity().send();
    let identity = match tokio::time::timeout(PREFLIGHT_TIMEOUT, call).await {
        Err(_) => {
            return Err(anyhow!(
                "no answer from AWS ({}) within {}s",
                describe_endpoint(&config, &region),
                PREFLIGHT_TIMEOUT.as_secs()
            ));
        }
        Ok(Err(e)) => {
            return Err(anyhow!(
                "cannot reach AWS ({}): {}",
                describe_endpoint(&config, &region),
                crate::error::one_line(&e)
            ));
        }
        Ok(Ok(identity)) => identity,
    };
    let account = identity
        .account()
        .ok_or_else(|| anyhow!("STS GetCallerIdentity returned no account"))?
        .to_string();
    let partition = identity
        .arn()
        .and_then(spec::partition_of_arn)
        .unwrap_or_else(|| spec::partition_of_region(&region))
        .to_string();
    let target = Target {
        suffix: suffix.to_string(),
        account,
        region,
        partition,
    };
    Ok((clients, target))
}

/// A region name has the shape `us-west-2`, `eu-central-1`, `us-gov-west-1`, `cn-north-1`
/// (lowercase words, a number last). The SDK would turn anything else into endpoints that do
/// not exist; new regions keep this shape, so no fixed list is needed.
pub fn check_region(region: &str) -> Result<()> {
    let parts: Vec<&str> = region.split('-').collect();
    let word = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    let ok = parts.len() >= 3
        && parts[..parts.len() - 1].iter().all(word)
        && parts[0].len() == 2
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(anyhow!(
            "unknown region {region:?}: a region looks like us-west-2 or eu-central-1"
        ))
    }
}

/// A named profile must exist in the shared config or credentials file: otherwise aws-config
/// silently falls back to other credentials (environment variables), which is not what the
/// user asked for.
fn check_profile(profile: &str) -> Result<()> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let config = file("AWS_CONFIG_FILE", "config");
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let sections = |path: &Option<PathBuf>| -> Vec<String> {
        path.as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().strip_prefix('[')?.strip_suffix(']').map(str::trim))
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    let in_config = sections(&config)
        .iter()
        .any(|s| s == &format!("profile {profile}") || (s == "default" && profile == "default"));
    let in_credentials = sections(&credentials).iter().any(|s| s == profile);
    if in_config || in_credentials {
        return Ok(());
    }
    Err(anyhow!(
        "profile {profile:?} not found in {} or {}",
        config.map_or("~/.aws/config".into(), |p| p.display().to_string()),
        credentials.map_or("~/.aws/credentials".into(), |p| p.display().to_string())
    ))
}

/// Resolves credentials up front, so that "none found" is said plainly instead of as a
/// dispatch failure of the first call.
async fn check_credentials(config: &SdkConfig) -> Result<()> {
    use aws_credential_types::provider::ProvideCredentials;
    let Some(provider) = config.credentials_provider() else {
        return Err(anyhow!("no AWS credentials configured"));
    };
    let found = tokio::time::timeout(PREFLIGHT_TIMEOUT, provider.provide_credentials()).await;
    match found {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            let why = match &e {
                aws_credential_types::provider::error::CredentialsError::CredentialsNotLoaded(
                    _,
                ) => {
                    "none found in the environment, the shared config and credentials files, SSO, \
                     web identity, the container or the instance metadata"
                        .to_string()
                }
                other => crate::error::one_line(other),
            };
            Err(anyhow!(
                "no AWS credentials: {why} (set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or use \
                 --profile)"
            ))
        }
        Err(_) => Err(anyhow!(
            "no AWS credentials within {}s",
            PREFLIGHT_TIMEOUT.as_secs()
        )),
    }
}

fn describe_endpoint(config: &SdkConfig, region: &str) -> String {
    match config.endpoint_url() {
        Some(url) => format!("endpoint {url}, region {region}"),
        None => format!("region {region}"),
    }
}
