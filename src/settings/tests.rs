use super::*;

const FILE: &str = r#"
[defaults]
region = "eu-west-1"
memory_mb = 256
log_level = "info"
tags = { team = "data", cost-center = "42" }

[env.prod]
memory_mb = 1024
timeout_s = 60
tags = { cost-center = "7" }

[env.dev]
handler = "src/handler"
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

fn loaded(text: &str) -> Loaded {
    parse(Path::new("conf/tapctl.toml"), text).unwrap()
}

fn err(text: &str) -> String {
    match parse(Path::new("tapctl.toml"), text) {
        Err(e) => e.0,
        Ok(l) => {
            resolve(Some(&l), "prod", &no_env, &Flags::default())
                .unwrap_err()
                .0
        }
    }
}

#[test]
fn no_file_gives_the_built_in_defaults() {
    let s = resolve(None, "dev", &no_env, &Flags::default()).unwrap();
    assert_eq!(s, Settings::default());
    assert_eq!(s.memory_mb.value, 128);
    assert_eq!(s.timeout_s.value, 30);
    assert_eq!(s.runtime.value, "python3.13");
    assert_eq!(s.log_retention_days.value, 14);
}

#[test]
fn environment_section_overrides_only_what_it_names() {
    let l = loaded(FILE);
    let prod = resolve(Some(&l), "prod", &no_env, &Flags::default()).unwrap();
    assert_eq!(prod.memory_mb.value, 1024);
    assert_eq!(
        prod.memory_mb.source.to_string(),
        "conf/tapctl.toml [env.prod]"
    );
    assert_eq!(prod.region.value.as_deref(), Some("eu-west-1"));
    assert_eq!(
        prod.region.source.to_string(),
        "conf/tapctl.toml [defaults]"
    );
    assert_eq!(prod.log_level.value, "INFO");
    assert_eq!(prod.timeout_s.value, 60);
    assert_eq!(prod.runtime.source, Source::Default);
    assert_eq!(
        prod.tag_pairs(),
        vec![
            ("cost-center".to_string(), "7".to_string()),
            ("team".to_string(), "data".to_string())
        ]
    );
    let other = resolve(Some(&l), "qa", &no_env, &Flags::default()).unwrap();
    assert_eq!(other.memory_mb.value, 256);
    assert_eq!(other.timeout_s.value, 30);
    let dev = resolve(Some(&l), "dev", &no_env, &Flags::default()).unwrap();
    assert_eq!(
        dev.handler.value,
        Some(PathBuf::from("conf/src/handler")),
        "a relative handler folder is relative to the file"
    );
}

#[test]
fn environment_variables_then_flags_override_the_file() {
    let l = loaded(FILE);
    let env = |k: &str| (k == "TAPCTL_MEMORY_MB").then(|| "512".to_string());
    let s = resolve(Some(&l), "prod", &env, &Flags::default()).unwrap();
    assert_eq!(s.memory_mb.value, 512);
    assert_eq!(s.memory_mb.source, Source::Env("TAPCTL_MEMORY_MB".into()));
    let mut flags = Flags::default();
    flags.set("memory_mb=2048").unwrap();
    flags.named("--region", "region", "us-east-1");
    flags.set("tags.owner=me").unwrap();
    let s = resolve(Some(&l), "prod", &env, &flags).unwrap();
    assert_eq!(s.memory_mb.value, 2048);
    assert_eq!(s.memory_mb.source.to_string(), "flag --set memory_mb=...");
    assert_eq!(s.region.value.as_deref(), Some("us-east-1"));
    assert_eq!(s.tags["owner"].value, "me");
    assert_eq!(s.tags["team"].value, "data");
}

#[test]
fn bad_values_name_the_file_and_line() {
    assert_eq!(
        err("[defaults]\nmemory_mb = 64\n"),
        "tapctl.toml:2: memory_mb: 64 is out of range: Lambda allows MB from 128 to 10240"
    );
    assert_eq!(
        err("[defaults]\n\n[env.prod]\ntimeout_s = 901\n"),
        "tapctl.toml:4: timeout_s: 901 is out of range: Lambda allows seconds from 1 to 900"
    );
    assert!(
        err("[defaults]\nruntime = \"python3.8\"\n")
            .starts_with("tapctl.toml:2: runtime: \"python3.8\" is not one of python3.10,")
    );
    assert!(err("[defaults]\nlog_retention_days = 10\n").starts_with(
        "tapctl.toml:2: log_retention_days: 10 is not a retention CloudWatch Logs accepts"
    ));
    assert_eq!(
        err("[defaults]\narchitecture = \"sparc\"\n"),
        "tapctl.toml:2: architecture: \"sparc\" is not one of x86_64, arm64"
    );
    assert_eq!(
        err("[env.prod]\ntags = { \"aws:x\" = \"1\" }\n"),
        "tapctl.toml:2: tags: tag key \"aws:x\": the prefixes aws: and tapctl: are reserved"
    );
    assert!(
        err("[defaults]\npermissions_boundary = \"boundary\"\n").starts_with(
            "tapctl.toml:2: permissions_boundary: \"boundary\" is not an IAM policy ARN"
        )
    );
    assert_eq!(
        err("[defaults]\nregion = \"US_WEST_2\"\n"),
        "tapctl.toml:2: region: \"US_WEST_2\" is not a region name (like us-west-2)"
    );
}

#[test]
fn unknown_keys_and_wrong_types_are_refused_with_their_line() {
    let e = err("[defaults]\nmemory = 256\n");
    assert!(
        e.starts_with("tapctl.toml:2: unknown field `memory`"),
        "{e}"
    );
    let e = err("[defaults]\n\nmemory_mb = \"big\"\n");
    assert!(e.starts_with("tapctl.toml:3: "), "{e}");
    assert!(e.contains("string"), "{e}");
    let e = err("[default]\nregion = \"us-west-2\"\n");
    assert!(
        e.starts_with("tapctl.toml:1: unknown field `default`"),
        "{e}"
    );
    let e = err("[defaults\n");
    assert!(e.starts_with("tapctl.toml:1: "), "{e}");
    assert!(!e.contains('\n'));
}

#[test]
fn bad_environment_and_flag_values_are_named() {
    let env = |k: &str| (k == "TAPCTL_TIMEOUT_S").then(|| "soon".to_string());
    let e = resolve(None, "dev", &env, &Flags::default()).unwrap_err();
    assert_eq!(
        e.0,
        "environment TAPCTL_TIMEOUT_S: timeout_s: \"soon\" is not a whole number"
    );
    let mut flags = Flags::default();
    assert!(flags.set("memory").is_err());
    assert!(
        flags
            .set("colour=blue")
            .unwrap_err()
            .contains("unknown key")
    );
    flags.set("retry_attempts=3").unwrap();
    let e = resolve(None, "dev", &no_env, &flags).unwrap_err();
    assert_eq!(
        e.0,
        "--set retry_attempts=...: retry_attempts: 3 is out of range: Lambda allows attempts from 0 to 2"
    );
}

#[test]
fn regions_of_every_partition_are_accepted() {
    for r in [
        "us-west-2",
        "cn-north-1",
        "us-gov-west-1",
        "eusc-de-east-1",
        "us-isob-east-1",
    ] {
        assert!(check_region(r).is_ok(), "{r}");
    }
    for r in [
        "mars",
        "US_WEST_2",
        "us-west-",
        "-us-west-2",
        "us-west-two",
        "abcde-x-1",
    ] {
        assert!(check_region(r).is_err(), "{r}");
    }
}

#[test]
fn too_many_tags_are_refused() {
    let mut flags = Flags::default();
    for i in 0..=MAX_USER_TAGS {
        flags.set(&format!("tags.k{i}=v")).unwrap();
    }
    assert!(
        resolve(None, "dev", &no_env, &flags)
            .unwrap_err()
            .0
            .contains("extra tags")
    );
}

#[test]
fn rows_show_every_key_with_its_source() {
    let l = loaded(FILE);
    let s = resolve(Some(&l), "prod", &no_env, &Flags::default()).unwrap();
    let rows: Vec<(&str, String, String)> = s
        .rows()
        .into_iter()
        .map(|r| (r.key, r.value, r.source.to_string()))
        .collect();
    let keys: Vec<&str> = rows.iter().map(|r| r.0).collect();
    for k in KEYS {
        assert!(keys.contains(&k.name), "{}", k.name);
    }
    assert!(rows.contains(&("handler", "-".into(), "default".into())));
    assert!(rows.contains(&(
        "tags",
        "team=data".into(),
        "conf/tapctl.toml [defaults]".into()
    )));
}

#[test]
fn load_reads_the_default_file_only_when_present() {
    let dir = std::env::temp_dir().join(format!("tapctl-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(load(None, &dir).unwrap().is_none());
    std::fs::write(dir.join(DEFAULT_FILE), "[defaults]\nmemory_mb = 256\n").unwrap();
    let l = load(None, &dir).unwrap().unwrap();
    assert_eq!(l.path(), Path::new(DEFAULT_FILE));
    let missing = dir.join("nope.toml");
    let e = load(Some(&missing), &dir).err().unwrap();
    assert!(e.0.starts_with("settings file "), "{}", e.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_stack_selectors_follow_the_same_chain_and_say_where_they_come_from() {
    // AWS_REGION decides when nothing else names a region, and config says so (it showed `-`).
    let env = |k: &str| match k {
        "AWS_REGION" => Some("eu-central-1".to_string()),
        "AWS_PROFILE" => Some("ops".to_string()),
        "AWS_ENDPOINT_URL" => Some("https://127.0.0.1:4566".to_string()),
        _ => None,
    };
    let s = resolve(None, "dev", &env, &Flags::default()).unwrap();
    assert_eq!(s.region.value.as_deref(), Some("eu-central-1"));
    assert_eq!(s.region.source.to_string(), "environment AWS_REGION");
    assert!(s.region.source.is_ambient());
    assert_eq!(s.profile.value.as_deref(), Some("ops"));
    assert_eq!(
        s.endpoint_url.source.to_string(),
        "environment AWS_ENDPOINT_URL"
    );
    // The file is above the AWS variables, TAPCTL_* above the file, flags above all.
    let l = loaded(FILE);
    let s = resolve(Some(&l), "dev", &env, &Flags::default()).unwrap();
    assert_eq!(s.region.value.as_deref(), Some("eu-west-1"));
    let env2 = |k: &str| match k {
        "TAPCTL_REGION" => Some("ap-south-1".to_string()),
        other => env(other),
    };
    let s = resolve(Some(&l), "dev", &env2, &Flags::default()).unwrap();
    assert_eq!(s.region.value.as_deref(), Some("ap-south-1"));
    assert!(!s.region.source.is_ambient());
    let mut flags = Flags::default();
    flags.named("--region", "region", "us-east-2");
    let s = resolve(Some(&l), "dev", &env2, &flags).unwrap();
    assert_eq!(s.region.value.as_deref(), Some("us-east-2"));
    // The profile's own region comes below everything that names one.
    let mut s = resolve(None, "dev", &no_env, &Flags::default()).unwrap();
    s.with_profile_region("ops", Some("sa-east-1".into()));
    assert_eq!(s.region_or_default(), "sa-east-1");
    assert_eq!(s.region.source.to_string(), "profile ops");
    let mut s = resolve(None, "dev", &env, &Flags::default()).unwrap();
    s.with_profile_region("ops", Some("sa-east-1".into()));
    assert_eq!(s.region_or_default(), "eu-central-1");
    assert_eq!(
        Settings::default().region_or_default(),
        DEFAULT_REGION,
        "nothing names a region"
    );
}

#[test]
fn bad_aws_variables_are_named() {
    let env = |k: &str| (k == "AWS_ENDPOINT_URL").then(|| "localhost:4566".to_string());
    let e = resolve(None, "dev", &env, &Flags::default()).unwrap_err();
    assert_eq!(
        e.0,
        "environment AWS_ENDPOINT_URL: endpoint_url: \"localhost:4566\" is not an http:// or https:// URL"
    );
}

#[test]
fn exclude_is_a_list_in_the_file_and_comma_separated_elsewhere() {
    let l = loaded("[defaults]\nexclude = [\"*.md\", \"fixtures/**\"]\n");
    let s = resolve(Some(&l), "dev", &no_env, &Flags::default()).unwrap();
    assert_eq!(s.exclude.value, ["*.md", "fixtures/**"]);
    let env = |k: &str| (k == "TAPCTL_EXCLUDE").then(|| "a.txt, b/*".to_string());
    let s = resolve(Some(&l), "dev", &env, &Flags::default()).unwrap();
    assert_eq!(s.exclude.value, ["a.txt", "b/*"]);
    let e = err("[defaults]\nexclude = \"*.md\"\n");
    assert_eq!(e, "tapctl.toml:2: exclude: expected a list of strings");
    let e = err("[defaults]\nexclude = [\"../x\"]\n");
    assert!(e.contains("relative to the handler folder"), "{e}");
}

#[test]
fn the_handler_folder_is_found_by_convention_unless_a_source_names_one() {
    let dir = std::env::temp_dir().join(format!("tapctl-handler-found-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(HANDLER_FOLDER)).unwrap();
    let mut s = Settings::default();
    s.with_handler_found_in(&dir);
    assert_eq!(s.handler.value, None, "no index.py: the built-in handler");
    std::fs::write(dir.join(HANDLER_FOLDER).join("index.py"), "x = 1\n").unwrap();
    s.with_handler_found_in(&dir);
    assert_eq!(s.handler.value, Some(dir.join(HANDLER_FOLDER)));
    assert_eq!(s.handler.source.kind(), "default");
    let mut flags = Flags::default();
    flags.named("--handler", "handler", "elsewhere");
    let mut s = resolve(None, "dev", &no_env, &flags).unwrap();
    s.with_handler_found_in(&dir);
    assert_eq!(s.handler.value, Some(PathBuf::from("elsewhere")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_key_is_declared_once_with_a_doc_a_default_and_a_variable() {
    let mut names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "a key declared twice");
    for k in KEYS {
        assert!(!k.doc.trim().is_empty(), "{} has no doc", k.name);
        assert!(!k.default.is_empty(), "{} has no default", k.name);
        if k.name != "tags" {
            assert_eq!(
                k.variable().unwrap(),
                format!("TAPCTL_{}", k.name.to_uppercase())
            );
            // Every key can be set from every layer, its variable included.
            let mut flags = Flags::default();
            assert!(flags.set(&format!("{}=x", k.name)).is_ok(), "{}", k.name);
        }
    }
}

/// The settings table in docs/cli.md is made from the declarations: this fails when it is
/// stale. `TAPCTL_BLESS=1 cargo test --lib settings` rewrites it.
#[test]
fn the_docs_settings_table_is_made_from_the_declarations() {
    const START: &str = "<!-- settings table: made from src/settings by a test -->\n";
    const END: &str = "<!-- end of settings table -->";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = doc
        .split_once(START)
        .expect("docs/cli.md has the table's start marker");
    let (table, tail) = rest
        .split_once(END)
        .expect("docs/cli.md has the table's end marker");
    let want = docs_table();
    if table != want {
        if std::env::var_os("TAPCTL_BLESS").is_some() {
            std::fs::write(&path, format!("{head}{START}{want}{END}{tail}")).unwrap();
        } else {
            panic!(
                "docs/cli.md's settings table is stale: run TAPCTL_BLESS=1 cargo test --lib \
                 settings, or put this between its markers:\n{want}"
            );
        }
    }
}
