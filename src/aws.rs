//! The SDK configuration and clients: region, profile, endpoint, CA bundle, retries, timeouts.

use anyhow::{Context, Result, anyhow};
use aws_config::profile::{Profile, ProfileSet};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{Connector, tls};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::os_shim_internal::{Env, Fs};
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
    /// CloudWatch metrics: the pipeline's health (Lambda's and SQS's built-in metrics).
    pub metrics: aws_sdk_cloudwatch::Client,
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
/// The slowest upload link tapctl allows for before an upload times out: 512 KiB/s (about
/// 4 Mbit/s). A read timeout counts the request's upload too, so uploads get timeouts scaled
/// to their body: a 40 MB layer (53 MB as base64) over 10 Mbit/s takes about 45 s.
const SLOWEST_UPLOAD_BYTES_PER_S: u64 = 512 * 1024;

/// The timeouts of a call that uploads `body_bytes` (a zip, base64 in JSON): those of every
/// call plus the time the body takes at the slowest link allowed for.
pub fn upload_timeouts(body_bytes: usize) -> TimeoutConfig {
    let upload = Duration::from_secs(body_bytes as u64 / SLOWEST_UPLOAD_BYTES_PER_S);
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT + upload)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT + upload)
        .operation_timeout(OPERATION_TIMEOUT + 3 * upload)
        .build()
}

/// Attempts of the start-up identity check (throttling and 5xx are rare there).
const PREFLIGHT_ATTEMPTS: u32 = 4;
/// Bounds the start-up identity check: an unreachable endpoint fails within it.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(25);

/// Where the CA bundle came from: only one the user typed for this run (`--ca-bundle`) makes a
/// plain-HTTP endpoint an error; a bundle set globally (AWS_CA_BUNDLE, a profile's
/// `ca_bundle`) is simply not needed there, as with the AWS CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BundleSource {
    Flag,
    Env,
    Profile,
}

/// The profile files as the SDK reads them (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE,
/// `~/.aws/config` and `~/.aws/credentials`), parsed by aws-config's own parser.
async fn profile_set() -> Result<ProfileSet> {
    aws_config::profile::load(&Fs::real(), &Env::real(), &EnvConfigFiles::default(), None)
        .await
        .map_err(|e| {
            anyhow!(
                "cannot read the AWS config files: {}",
                crate::error::one_line(&e)
            )
        })
}

/// The profile the SDK would use (`profile`, else AWS_PROFILE, else `default`) and its
/// `region`, read from the AWS config files without any AWS call (for `tapctl config`).
pub async fn profile_region(profile: Option<&str>) -> (String, Option<String>) {
    let name = profile
        .map(str::to_string)
        .or_else(|| env_var("AWS_PROFILE"))
        .unwrap_or_else(|| "default".into());
    let region = match profile_set().await {
        Ok(set) => set
            .get_profile(&name)
            .and_then(|p| p.get("region"))
            .map(str::to_string),
        Err(_) => None,
    };
    (name, region)
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The profile the run uses, checked: a profile named by `--profile` or AWS_PROFILE must be
/// in the config or credentials file. Otherwise aws-config silently falls back to other
/// credentials (environment variables), which could deploy into another account.
fn chosen_profile<'a>(opts: &Options, set: &'a ProfileSet) -> Result<Option<&'a Profile>> {
    let (name, from_env) = match (&opts.profile, env_var("AWS_PROFILE")) {
        (Some(p), _) => (p.clone(), false),
        (None, Some(p)) => (p, true),
        (None, None) => return Ok(set.get_profile("default")),
    };
    match set.get_profile(&name) {
        Some(p) => Ok(Some(p)),
        // AWS_PROFILE=default with no files is what the AWS CLI accepts too.
        None if from_env && name == "default" => Ok(None),
        None => {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            let file = |var: &str, default: &str| {
                env_var(var)
                    .map(PathBuf::from)
                    .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
                    .map_or(format!("~/.aws/{default}"), |p| p.display().to_string())
            };
            let origin = if from_env { " (AWS_PROFILE)" } else { "" };
            Err(anyhow!(
                "profile {name:?}{origin} not found in {} or {}",
                file("AWS_CONFIG_FILE", "config"),
                file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
            ))
        }
    }
}

/// The HTTPS client: rustls with ring, the trust store, and the proxy the environment names
/// (HTTPS_PROXY / HTTP_PROXY / NO_PROXY, upper or lower case), as the SDK's default client and
/// the AWS CLI honour them.
fn http_client(trust: tls::TrustStore) -> Result<SharedHttpClient> {
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .context("cannot set up TLS")?;
    let provider = tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring);
    Ok(
        aws_smithy_http_client::Builder::new().build_with_connector_fn(move |settings, rc| {
            let mut b = Connector::builder()
                .proxy_config(ProxyConfig::from_env())
                .enable_tcp_nodelay(true);
            b.set_connector_settings(settings.cloned());
            if let Some(rc) = rc {
                b.set_sleep_impl(rc.sleep_impl());
            }
            b.tls_provider(provider.clone())
                .tls_context(context.clone())
                .build()
        }),
    )
}

/// The proxy a request to `url` goes through, if the environment names one (for messages).
pub fn proxy_for(url: &str) -> Option<String> {
    let https = url.to_ascii_lowercase().starts_with("https://");
    let names: &[&str] = if https {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    let proxy = names.iter().find_map(|n| env_var(n))?;
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    let bypass = ["NO_PROXY", "no_proxy"]
        .iter()
        .find_map(|n| env_var(n))
        .is_some_and(|list| {
            list.split(',').map(str::trim).any(|rule| {
                rule == "*"
                    || (!rule.is_empty()
                        && (host == rule.trim_start_matches('.')
                            || host.ends_with(&format!(".{}", rule.trim_start_matches('.')))))
            })
        });
    (!bypass).then_some(proxy)
}

pub async fn sdk_config(opts: &Options) -> Result<SdkConfig> {
    let profiles = profile_set().await?;
    let profile = chosen_profile(opts, &profiles)?;
    let bundle = match (&opts.ca_bundle, env_var("AWS_CA_BUNDLE")) {
        (Some(p), _) => Some((p.clone(), BundleSource::Flag)),
        (None, Some(p)) => Some((PathBuf::from(p), BundleSource::Env)),
        (None, None) => profile
            .and_then(|p| p.get("ca_bundle"))
            .filter(|v| !v.trim().is_empty())
            .map(|v| (PathBuf::from(v), BundleSource::Profile)),
    };
    if let (Some(url), Some((ca, BundleSource::Flag))) = (&opts.endpoint_url, &bundle)
        && url.to_ascii_lowercase().starts_with("http://")
    {
        return Err(anyhow!(
            "the endpoint {url} is plain HTTP but a CA bundle ({}) was given for TLS: use an \
             https:// endpoint, or drop the CA bundle",
            ca.display()
        ));
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    // The user's own retry settings (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, the profile's
    // max_attempts / retry_mode) win, as in every AWS SDK; aws-config reads them itself.
    // Otherwise tapctl's: standard mode, 8 attempts, 100 ms to 5 s backoff.
    let user_retry = ["AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"]
        .iter()
        .any(|v| env_var(v).is_some())
        || profile
            .is_some_and(|p| p.get("max_attempts").is_some() || p.get("retry_mode").is_some());
    if !user_retry {
        loader = loader.retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(5)),
        );
    }
    loader = loader.timeout_config(
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
    // Without --endpoint-url the SDK applies its own rules (AWS_ENDPOINT_URL_<SERVICE> before
    // AWS_ENDPOINT_URL, the profile's endpoint_url, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS).
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    // tapctl builds its one HTTPS client itself (rustls with ring): aws-lc, the SDK's default,
    // seeds its random generator from CPU jitter at start-up, ~20 ms of every run.
    let trust = match &bundle {
        None => tls::TrustStore::default(),
        Some((path, source)) => {
            let origin = match source {
                BundleSource::Flag => "",
                BundleSource::Env => " (AWS_CA_BUNDLE)",
                BundleSource::Profile => " (the profile's ca_bundle)",
            };
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the CA bundle {}{origin}", path.display()))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(anyhow!(
                    "the CA bundle {}{origin} holds no PEM certificate",
                    path.display()
                ));
            }
            // The bundle replaces the system roots, as AWS_CA_BUNDLE does for the AWS CLI and
            // boto3. Loading and parsing the system roots (/etc/ssl/certs) cost ~70 ms per run
            // (measured with strace on the 2-core dev machine), half an in-sync `status`.
            tls::TrustStore::empty().with_pem_certificate(pem)
        }
    };
    loader = loader.http_client(http_client(trust)?);
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
            metrics: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(config)
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
    // A custom S3 endpoint (an emulator) has no per-bucket host names: path-style addressing.
    let custom_endpoint =
        config.endpoint_url().is_some() || env_var("AWS_ENDPOINT_URL_S3").is_some();
    check_region(&region)?;
    check_credentials(&config).await?;
    let clients = Clients::new(&config, custom_endpoint);
    // The identity check retries less than other calls: a stopped endpoint or a dead proxy
    // (connection refused) fails in well under a second instead of after 8 backed-off attempts.
    let call = clients
        .sts
        .get_caller_identity()
        .customize()
        .config_override(
            aws_sdk_sts::config::Builder::default().retry_config(
                RetryConfig::standard()
                    .with_max_attempts(PREFLIGHT_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(50)),
            ),
        )
        .send();
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
    if crate::settings::is_region_name(region) {
        Ok(())
    } else {
        Err(anyhow!(
            "unknown region {region:?}: a region looks like us-west-2 or eu-central-1"
        ))
    }
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
    let url = config
        .endpoint_url()
        .map(str::to_string)
        .or_else(|| env_var("AWS_ENDPOINT_URL_STS"));
    let via = |u: &str| proxy_for(u).map_or(String::new(), |p| format!(", through proxy {p}"));
    match url {
        Some(url) => format!("endpoint {url}, region {region}{}", via(&url)),
        None => format!(
            "region {region}{}",
            via(&format!("https://sts.{region}.amazonaws.com"))
        ),
    }
}
