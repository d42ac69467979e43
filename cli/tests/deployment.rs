//! The deployment files agree with the local stack and with the code: `infra/docker/Dockerfile`,
//! `infra/compose/compose.yaml` (+ its `nginx.conf`) and every manifest `infra/k8s/kustomization.yaml`
//! lists. Nothing here runs Docker or a cluster (this machine has neither): the files are parsed
//! and checked against `infra/local` (ports, Kafka and PostgreSQL settings, the gateway), the
//! workspace's binaries (`cargo metadata`), the `FRESHLINE_*` settings the sources read, and
//! `schemas::topics::ALL`. It needs no PostgreSQL or Kafka, hence its own test binary beside
//! `cli.rs`, which needs both.

use serde::Deserialize;
use serde_norway::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const COMPOSE: &str = "infra/compose/compose.yaml";
const COMPOSE_NGINX: &str = "infra/compose/nginx.conf";
const K8S_NGINX: &str = "infra/k8s/gateway.nginx.conf";
const KUSTOMIZATION: &str = "infra/k8s/kustomization.yaml";
const DOCKERFILE: &str = "infra/docker/Dockerfile";
const LOCAL_NGINX: &str = "infra/gateway/nginx.conf";
/// The binary that is the operators' CLI, not a service.
const CLI: &str = "freshline";

// --- reading the repository ---------------------------------------------------------------

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every YAML document in the file, with merge keys (`<<: *anchor`) applied.
fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = read(rel);
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            let mut v = Value::deserialize(doc).unwrap_or_else(|e| panic!("{rel}: {e}"));
            v.apply_merge()
                .unwrap_or_else(|e| panic!("{rel}: merge keys: {e}"));
            v
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// A scalar as text (YAML numbers and booleans included); empty for anything else.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// A command (`["a", "b"]` or `"a b"`) as one line.
fn command_line(v: &Value) -> String {
    match v {
        Value::Sequence(items) => items.iter().map(text).collect::<Vec<_>>().join(" "),
        other => text(other),
    }
}

fn first_word(v: &Value) -> String {
    command_line(v)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn mapping<'a>(v: &'a Value, what: &str) -> &'a Mapping {
    v.as_mapping()
        .unwrap_or_else(|| panic!("{what} is not a mapping"))
}

fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map(Vec::as_slice).unwrap_or_default()
}

/// What `cargo metadata` says about the workspace.
struct Workspace {
    /// Every binary target.
    bins: BTreeSet<String>,
    /// Every member's `src/` directory.
    src_dirs: Vec<PathBuf>,
}

fn workspace() -> Workspace {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let mut bins = BTreeSet::new();
    let mut src_dirs = Vec::new();
    for p in meta["packages"].as_array().expect("packages") {
        let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest_path"));
        src_dirs.push(manifest.parent().expect("crate dir").join("src"));
        for t in p["targets"].as_array().expect("targets") {
            let is_bin = t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
            if is_bin {
                bins.insert(t["name"].as_str().expect("target name").to_owned());
            }
        }
    }
    Workspace { bins, src_dirs }
}

/// Every service a deployment runs, with its command line: `freshline serve <name>` for each
/// service `freshline serve --help` lists, and `freshline-sim <name>` for each simulator.
fn deployed_services() -> BTreeMap<String, String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_freshline"))
        .args(["serve", "--help"])
        .output()
        .expect("freshline serve --help runs");
    assert!(out.status.success(), "freshline serve --help fails");
    let help = String::from_utf8(out.stdout).expect("help is text");
    let mut services: BTreeMap<String, String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(|name| (name.to_owned(), format!("{CLI} serve {name}")))
        .collect();
    assert!(
        services.len() >= 8,
        "freshline serve lists its services: {help}"
    );
    for name in simulators::serve::NAMES {
        services.insert(name.to_owned(), format!("freshline-sim {name}"));
    }
    services
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of every Rust file under the workspace members' `src/`.
fn sources() -> Vec<String> {
    let mut files = Vec::new();
    for dir in workspace().src_dirs {
        rust_files(&dir, &mut files);
    }
    files
        .into_iter()
        .map(|f| std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect()
}

/// `FRESHLINE_*` names as string literals in the workspace's sources (the settings the code reads).
fn settings_read_by_code() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for src in sources() {
        for (name, _) in freshline_names(&src) {
            if src.contains(&format!("\"{name}\"")) {
                names.insert(name);
            }
        }
    }
    assert!(
        names.contains("FRESHLINE_DATABASE_URL"),
        "the settings scan finds FRESHLINE_DATABASE_URL"
    );
    names
}

/// Settings the code treats as secrets: read with `config::secret(...)`, or a token or password.
fn secret_settings() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = settings_read_by_code()
        .into_iter()
        .filter(|n| n.ends_with("_TOKEN") || n.ends_with("_PASSWORD"))
        .collect();
    for src in sources() {
        for (at, _) in src.match_indices("secret(") {
            let arg = src[at + "secret(".len()..].trim_start();
            if let Some((name, _)) = arg.strip_prefix('"').and_then(|a| a.split_once('"')) {
                if name.starts_with("FRESHLINE_") {
                    names.insert(name.to_owned());
                }
            }
        }
    }
    assert!(
        names.contains("FRESHLINE_DATABASE_URL"),
        "the code reads FRESHLINE_DATABASE_URL as a secret"
    );
    names
}

/// Every `FRESHLINE_X` in `text`, with its line number.
fn freshline_names(text: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("FRESHLINE_") {
            let tail = &rest[at..];
            let len = tail
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            let name = tail[..len].trim_end_matches('_');
            if name.len() > "FRESHLINE_".len() {
                found.push((name.to_owned(), i + 1));
            }
            rest = &tail[len.max(1)..];
        }
    }
    found
}

/// Every file of the deployment: infra/docker, infra/compose and infra/k8s (not their
/// subdirectories, where operators keep generated keys).
fn deployment_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["infra/docker", "infra/compose", "infra/k8s"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}")) {
            let path = entry.expect("dir entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            if path.is_file() && name != "secrets.env" {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    files.push(".dockerignore".to_owned());
    files.sort();
    files
}

// --- infra/local: the truth about ports and settings ---------------------------------------

/// A service `infra/local/up.sh` starts with an HTTP port.
#[derive(Debug)]
struct LocalService {
    name: String,
    port: u16,
    /// The variable that sets its bind address.
    addr_var: String,
}

/// `start_service NAME http://127.0.0.1:PORT/readyz env VAR=127.0.0.1:PORT ...` lines of up.sh.
fn local_http_services() -> Vec<LocalService> {
    let up = read("infra/local/up.sh").replace("\\\n", " ");
    let mut services = Vec::new();
    for line in up.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() != Some(&"start_service") || words.len() < 3 {
            continue;
        }
        let (name, url) = (words[1], words[2]);
        let port: u16 = url
            .strip_prefix("http://127.0.0.1:")
            .and_then(|r| r.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("infra/local/up.sh: {name}'s ready URL {url} names no port"));
        let addr_var = words
            .iter()
            .find_map(|w| w.strip_suffix(&format!("=127.0.0.1:{port}")))
            .unwrap_or_else(|| panic!("infra/local/up.sh: {name} sets no address on {port}"));
        services.push(LocalService {
            name: name.to_owned(),
            port,
            addr_var: addr_var.to_owned(),
        });
    }
    assert!(
        services.len() >= 7,
        "infra/local/up.sh starts the HTTP services (found {services:?})"
    );
    services
}

fn local_port(name: &str) -> u16 {
    local_http_services()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("infra/local/up.sh starts {name}"))
        .port
}

/// `${VAR:-default}` in infra/local/lib.sh.
fn lib_sh_default(var: &str) -> String {
    let lib = read("infra/local/lib.sh");
    let marker = format!("${{{var}:-");
    let at = lib
        .find(&marker)
        .unwrap_or_else(|| panic!("infra/local/lib.sh has a default for {var}"));
    let rest = &lib[at + marker.len()..];
    rest[..rest.find('}').expect("closing brace")].to_owned()
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches(';').parse().ok())
        .unwrap_or_else(|| panic!("{addr:?} has no port"))
}

/// The port nginx listens on in an nginx.conf.
fn nginx_listen_port(rel: &str) -> u16 {
    let conf = read(rel);
    let line = conf
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("listen "))
        .unwrap_or_else(|| panic!("{rel} has a listen directive"));
    port_of(line.trim_start_matches("listen ").trim())
}

/// `upstream NAME { server ADDR; ... }` of an nginx.conf: NAME -> ADDR.
fn nginx_upstreams(rel: &str) -> BTreeMap<String, String> {
    read(rel)
        .lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("upstream ")?;
            let (name, rest) = l.split_once('{')?;
            let server = rest.trim().strip_prefix("server ")?.split(';').next()?;
            Some((name.trim().to_owned(), server.trim().to_owned()))
        })
        .collect()
}

// --- compose ------------------------------------------------------------------------------

fn compose() -> Value {
    let mut docs = yaml_docs(COMPOSE);
    assert_eq!(docs.len(), 1, "{COMPOSE} is one YAML document");
    docs.remove(0)
}

fn compose_services(c: &Value) -> BTreeMap<String, Value> {
    mapping(&c["services"], &format!("{COMPOSE}: services"))
        .iter()
        .map(|(k, v)| (text(k), v.clone()))
        .collect()
}

/// A compose service's environment (mapping or `KEY=value` list).
fn compose_env(svc: &Value) -> BTreeMap<String, String> {
    match &svc["environment"] {
        Value::Mapping(m) => m.iter().map(|(k, v)| (text(k), text(v))).collect(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(|i| {
                let t = text(i);
                let (k, v) = t.split_once('=')?;
                Some((k.to_owned(), v.to_owned()))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// A compose service's published ports as (host port, container port).
fn compose_ports(svc: &Value) -> Vec<(u16, u16)> {
    seq(&svc["ports"])
        .iter()
        .map(|p| match p {
            Value::Mapping(_) => (
                text(&p["published"]).parse().expect("published port"),
                text(&p["target"]).parse().expect("target port"),
            ),
            other => {
                let t = text(other);
                let parts: Vec<&str> = t.split(':').collect();
                let container: u16 = parts[parts.len() - 1].parse().expect("container port");
                let host = if parts.len() >= 2 {
                    parts[parts.len() - 2].parse().expect("host port")
                } else {
                    container
                };
                (host, container)
            }
        })
        .collect()
}

fn is_freshline_image(image: &str) -> bool {
    image
        .split(':')
        .next()
        .is_some_and(|n| n.rsplit('/').next() == Some("freshline"))
}

// --- kubernetes ---------------------------------------------------------------------------

/// One object from a file `kustomization.yaml` lists.
struct Object {
    file: String,
    doc: Value,
}

impl Object {
    fn kind(&self) -> String {
        text(&self.doc["kind"])
    }
    fn name(&self) -> String {
        text(&self.doc["metadata"]["name"])
    }
    fn at(&self) -> String {
        format!("{} ({} {})", self.file, self.kind(), self.name())
    }
    fn is_workload(&self) -> bool {
        matches!(self.kind().as_str(), "Deployment" | "StatefulSet")
    }
    fn pod_spec(&self) -> &Value {
        &self.doc["spec"]["template"]["spec"]
    }
    fn containers(&self) -> &[Value] {
        seq(&self.pod_spec()["containers"])
    }
}

fn kustomization() -> Value {
    yaml_docs(KUSTOMIZATION).remove(0)
}

fn k8s_objects() -> Vec<Object> {
    let mut objects = Vec::new();
    for r in seq(&kustomization()["resources"]) {
        let file = format!("infra/k8s/{}", text(r));
        for doc in yaml_docs(&file) {
            objects.push(Object {
                file: file.clone(),
                doc,
            });
        }
    }
    objects
}

fn k8s_workload<'a>(objects: &'a [Object], name: &str) -> Option<&'a Object> {
    objects.iter().find(|o| o.is_workload() && o.name() == name)
}

/// Generated ConfigMaps or Secrets of the kustomization: name -> the keys of their files.
fn generators(kind: &str) -> BTreeMap<String, Vec<String>> {
    seq(&kustomization()[kind])
        .iter()
        .map(|g| {
            let keys = seq(&g["files"])
                .iter()
                .map(|f| text(f).split('=').next().unwrap_or_default().to_owned())
                .collect();
            (text(&g["name"]), keys)
        })
        .collect()
}

/// A container's port number for a probe's or Service's `port` (a number or a port name).
fn resolve_port(container: &Value, port: &Value) -> Option<u16> {
    match port {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(name) => seq(&container["ports"])
            .iter()
            .find(|p| text(&p["name"]) == *name)
            .and_then(|p| p["containerPort"].as_u64())
            .and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
}

fn container_env(container: &Value) -> BTreeMap<String, Value> {
    seq(&container["env"])
        .iter()
        .map(|e| (text(&e["name"]), e.clone()))
        .collect()
}

fn fail_on(problems: &[String], what: &str) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

// --- (a) every service is deployed ---------------------------------------------------------

#[test]
fn every_service_binary_runs_in_compose_and_in_kubernetes() {
    let wanted = deployed_services();
    let services = compose_services(&compose());
    let objects = k8s_objects();
    let mut problems = Vec::new();
    for (name, command) in &wanted {
        match services.get(name) {
            None => problems.push(format!("{COMPOSE}: services.{name} is missing")),
            Some(s) if command_line(&s["command"]) != *command => problems.push(format!(
                "{COMPOSE}: services.{name}.command runs {:?}, not {command:?}",
                command_line(&s["command"])
            )),
            Some(_) => {}
        }
        match k8s_workload(&objects, name) {
            None => problems.push(format!(
                "infra/k8s: no Deployment or StatefulSet named {name}"
            )),
            Some(o) => {
                let runs = o
                    .containers()
                    .iter()
                    .any(|c| command_line(&c["command"]) == *command);
                if !runs {
                    problems.push(format!(
                        "{}: no container's command runs {command:?}",
                        o.at()
                    ));
                }
            }
        }
    }
    // And nothing runs our image with a binary the workspace does not build.
    let all_bins = workspace().bins;
    for (name, s) in &services {
        let image = text(&s["image"]);
        let bin = first_word(&s["command"]);
        if is_freshline_image(&image) && !all_bins.contains(&bin) {
            problems.push(format!("{COMPOSE}: services.{name}.command runs {bin:?}, which the workspace does not build"));
        }
    }
    fail_on(&problems, "service binaries missing from the deployment");
}

#[test]
fn the_cli_migrates_and_creates_topics_before_the_services_start() {
    let services = compose_services(&compose());
    let init = services.get("init").expect("compose has an init service");
    let script = command_line(&init["command"]);
    let mut problems = Vec::new();
    for step in [
        "freshline db migrate",
        "freshline topics create",
        "freshline token keygen",
        "freshline audit keygen",
    ] {
        if !script.contains(step) {
            problems.push(format!(
                "{COMPOSE}: services.init.command does not run `{step}`"
            ));
        }
    }
    if text(&init["restart"]) != "no" {
        problems.push(format!(
            "{COMPOSE}: services.init.restart must be \"no\" (it runs once)"
        ));
    }
    for bin in deployed_services().into_keys() {
        let Some(svc) = services.get(&bin) else {
            problems.push(format!("{COMPOSE}: services.{bin} is missing"));
            continue;
        };
        let condition = text(&svc["depends_on"]["init"]["condition"]);
        if condition != "service_completed_successfully" {
            problems.push(format!(
                "{COMPOSE}: services.{bin}.depends_on.init.condition is {condition:?}, not service_completed_successfully"
            ));
        }
    }
    let objects = k8s_objects();
    let job = objects
        .iter()
        .find(|o| o.kind() == "Job")
        .expect("infra/k8s has a Job");
    let script = job
        .containers()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                command_line(&c["command"]),
                command_line(&c["args"])
            )
        })
        .collect::<String>();
    for step in ["freshline db migrate", "freshline topics create"] {
        if !script.contains(step) {
            problems.push(format!("{}: does not run `{step}`", job.at()));
        }
    }
    fail_on(&problems, "setup steps missing");
}

// --- (b) settings ---------------------------------------------------------------------------

#[test]
fn every_freshline_variable_in_the_deployment_files_is_a_setting_the_code_reads() {
    let known = settings_read_by_code();
    let mut problems = Vec::new();
    for file in deployment_files() {
        for (name, line) in freshline_names(&read(&file)) {
            if !known.contains(&name) {
                problems.push(format!("{file}:{line}: {name} is read by no code"));
            }
        }
    }
    fail_on(&problems, "unknown settings in the deployment files");
}

#[test]
fn kubernetes_takes_settings_from_the_configmap_and_secrets_from_secrets() {
    let objects = k8s_objects();
    let secrets = secret_settings();
    let config_maps: BTreeSet<String> = objects
        .iter()
        .filter(|o| o.kind() == "ConfigMap")
        .map(Object::name)
        .chain(generators("configMapGenerator").into_keys())
        .collect();
    let secret_generators = generators("secretGenerator");
    let example = read("infra/k8s/secrets.env.example");
    let example_keys: BTreeSet<&str> = example
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .collect();
    let env_secret = seq(&kustomization()["secretGenerator"])
        .iter()
        .find(|g| seq(&g["envs"]).iter().any(|e| text(e) == "secrets.env"))
        .map(|g| text(&g["name"]))
        .expect("a secretGenerator reads secrets.env");
    let mut problems = Vec::new();
    for o in objects.iter().filter(|o| o.kind() == "ConfigMap") {
        for (k, _) in mapping(&o.doc["data"], &o.at()) {
            if secrets.contains(&text(k)) {
                problems.push(format!(
                    "{}: data.{} is a secret; put it in secrets.env",
                    o.at(),
                    text(k)
                ));
            }
        }
    }
    for o in objects
        .iter()
        .filter(|o| o.is_workload() || o.kind() == "Job")
    {
        for c in o.containers() {
            let cname = text(&c["name"]);
            let from_config = seq(&c["envFrom"])
                .iter()
                .any(|e| text(&e["configMapRef"]["name"]) == "freshline-config");
            let is_ours = is_freshline_image(&text(&c["image"]));
            if is_ours && !from_config {
                problems.push(format!(
                    "{}: container {cname} does not take envFrom freshline-config",
                    o.at()
                ));
            }
            for e in seq(&c["envFrom"]) {
                let cm = text(&e["configMapRef"]["name"]);
                if !cm.is_empty() && !config_maps.contains(&cm) {
                    problems.push(format!(
                        "{}: envFrom names ConfigMap {cm}, which nothing defines",
                        o.at()
                    ));
                }
            }
            for (name, e) in container_env(c) {
                if secrets.contains(&name) && !e["value"].is_null() {
                    problems.push(format!(
                        "{}: env.{name} is a secret given as a literal value",
                        o.at()
                    ));
                }
                let r = &e["valueFrom"]["secretKeyRef"];
                if !r.is_null() {
                    let (secret, key) = (text(&r["name"]), text(&r["key"]));
                    if secret != env_secret {
                        problems.push(format!(
                            "{}: env.{name} names Secret {secret}, not {env_secret}",
                            o.at()
                        ));
                    } else if !example_keys.contains(key.as_str()) {
                        problems.push(format!(
                            "{}: env.{name} reads key {key}, which infra/k8s/secrets.env.example lacks",
                            o.at()
                        ));
                    }
                }
            }
        }
        for v in seq(&o.pod_spec()["volumes"]) {
            let cm = text(&v["configMap"]["name"]);
            if !cm.is_empty() && !config_maps.contains(&cm) {
                problems.push(format!(
                    "{}: volume {} names ConfigMap {cm}, which nothing defines",
                    o.at(),
                    text(&v["name"])
                ));
            }
            let secret = text(&v["secret"]["secretName"]);
            if !secret.is_empty() && !secret_generators.contains_key(&secret) {
                problems.push(format!(
                    "{}: volume {} names Secret {secret}, which nothing generates",
                    o.at(),
                    text(&v["name"])
                ));
            }
            let claim = text(&v["persistentVolumeClaim"]["claimName"]);
            let claimed = objects
                .iter()
                .any(|p| p.kind() == "PersistentVolumeClaim" && p.name() == claim);
            if !claim.is_empty() && !claimed {
                problems.push(format!(
                    "{}: volume {} claims {claim}, which nothing defines",
                    o.at(),
                    text(&v["name"])
                ));
            }
        }
    }
    for key in &example_keys {
        if !secrets.contains(*key) {
            problems.push(format!(
                "infra/k8s/secrets.env.example: {key} is not a secret setting of the code"
            ));
        }
    }
    fail_on(&problems, "configuration and secrets in infra/k8s");
}

#[test]
fn pods_find_keys_and_blobs_where_the_image_says() {
    // The image's ENV: FRESHLINE_JWKS_PATH=/var/lib/freshline/keys/jwks.json, ...
    let dockerfile = read(DOCKERFILE);
    let image_paths: BTreeMap<String, String> = dockerfile
        .split(|c: char| c.is_whitespace() || c == '\\')
        .filter_map(|w| w.split_once('='))
        .filter(|(k, v)| k.starts_with("FRESHLINE_") && v.starts_with('/'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let blob_dir = image_paths
        .get("FRESHLINE_BLOB_DIR")
        .expect("the image sets FRESHLINE_BLOB_DIR");
    let mut files: BTreeMap<String, Vec<String>> = generators("configMapGenerator");
    files.extend(generators("secretGenerator"));
    let mut problems = Vec::new();
    for o in k8s_objects().iter().filter(|o| o.is_workload()) {
        let volumes: BTreeMap<String, &Value> = seq(&o.pod_spec()["volumes"])
            .iter()
            .map(|v| (text(&v["name"]), v))
            .collect();
        for c in o
            .containers()
            .iter()
            .filter(|c| is_freshline_image(&text(&c["image"])))
        {
            for m in seq(&c["volumeMounts"]) {
                let at = text(&m["mountPath"]);
                let Some(v) = volumes.get(&text(&m["name"])) else {
                    problems.push(format!(
                        "{}: mount {} names no volume",
                        o.at(),
                        text(&m["name"])
                    ));
                    continue;
                };
                let source = [
                    text(&v["configMap"]["name"]),
                    text(&v["secret"]["secretName"]),
                ]
                .into_iter()
                .find(|s| !s.is_empty());
                if let Some(source) = source {
                    for key in files.get(&source).into_iter().flatten() {
                        let wanted = image_paths
                            .values()
                            .find(|p| p.ends_with(&format!("/{key}")));
                        if let Some(path) = wanted {
                            if *path != format!("{at}/{key}") {
                                problems.push(format!(
                                    "{}: {source} is mounted at {at}, but the image reads {key} at {path}",
                                    o.at()
                                ));
                            }
                        }
                    }
                }
                if !v["persistentVolumeClaim"].is_null() && at != *blob_dir {
                    problems.push(format!("{}: the blob volume is at {at}, the image's FRESHLINE_BLOB_DIR is {blob_dir}", o.at()));
                }
            }
        }
    }
    let compose = compose();
    for (name, s) in compose_services(&compose) {
        for v in seq(&s["volumes"]) {
            let t = text(v);
            let parts: Vec<&str> = t.split(':').collect();
            if parts.len() >= 2 && parts[0] == "blobs" && parts[1] != blob_dir {
                problems.push(format!(
                    "{COMPOSE}: services.{name} mounts blobs at {}, not {blob_dir}",
                    parts[1]
                ));
            }
        }
    }
    fail_on(&problems, "mounts that miss the image's paths");
}

// --- (c) ports and probes ------------------------------------------------------------------

#[test]
fn http_services_listen_probe_and_publish_on_the_ports_of_infra_local() {
    let services = compose_services(&compose());
    let objects = k8s_objects();
    let mut problems = Vec::new();
    for local in local_http_services() {
        let (name, port, var) = (&local.name, local.port, &local.addr_var);
        let want = format!("0.0.0.0:{port}");
        // compose
        match services.get(name) {
            None => problems.push(format!("{COMPOSE}: services.{name} is missing")),
            Some(s) => {
                let addr = compose_env(s).get(var).cloned().unwrap_or_default();
                if addr != want {
                    problems.push(format!(
                        "{COMPOSE}: services.{name}.environment.{var} is {addr:?}, not {want}"
                    ));
                }
                let health = command_line(&s["healthcheck"]["test"]);
                if !health.contains(&format!("127.0.0.1:{port}/readyz")) {
                    problems.push(format!("{COMPOSE}: services.{name}.healthcheck does not ask :{port}/readyz ({health:?})"));
                }
                for (host, container) in compose_ports(s) {
                    if host != port || container != port {
                        problems.push(format!("{COMPOSE}: services.{name}.ports publishes {host}:{container}, not {port}:{port}"));
                    }
                }
            }
        }
        // kubernetes
        let Some(o) = k8s_workload(&objects, name) else {
            problems.push(format!("infra/k8s: no workload {name}"));
            continue;
        };
        let Some(c) = o
            .containers()
            .iter()
            .find(|c| first_word(&c["command"]) == *name)
        else {
            continue;
        };
        let addr = text(&container_env(c).get(var).cloned().unwrap_or_default()["value"]);
        if addr != want {
            problems.push(format!("{}: env.{var} is {addr:?}, not {want}", o.at()));
        }
        let ports: Vec<u16> = seq(&c["ports"])
            .iter()
            .filter_map(|p| {
                p["containerPort"]
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
            })
            .collect();
        if ports != [port] {
            problems.push(format!(
                "{}: containerPorts are {ports:?}, not [{port}]",
                o.at()
            ));
        }
        for (probe, path) in [
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
            ("startupProbe", "/healthz"),
        ] {
            let p = &c[probe]["httpGet"];
            if p.is_null() && probe == "startupProbe" {
                continue;
            }
            let at = resolve_port(c, &p["port"]);
            if text(&p["path"]) != path || at != Some(port) {
                problems.push(format!(
                    "{}: {probe} is {:?} on {at:?}, not {path} on {port}",
                    o.at(),
                    text(&p["path"])
                ));
            }
        }
        let selector = &o.doc["spec"]["selector"]["matchLabels"];
        let svc = objects.iter().find(|s| {
            s.kind() == "Service" && s.name() == *name && s.doc["spec"]["selector"] == *selector
        });
        match svc {
            None => problems.push(format!(
                "infra/k8s: no Service {name} selecting {}'s pods",
                o.at()
            )),
            Some(s) => {
                let ok = seq(&s.doc["spec"]["ports"]).iter().any(|p| {
                    p["port"].as_u64() == Some(u64::from(port))
                        && resolve_port(c, &p["targetPort"]) == Some(port)
                });
                if !ok {
                    problems.push(format!(
                        "{}: no port {port} targeting the container's {port}",
                        s.at()
                    ));
                }
            }
        }
        if name == "fulfilment-saga" {
            if let Some(s) = svc {
                let service_name = text(&o.doc["spec"]["serviceName"]);
                if service_name != s.name() || text(&s.doc["spec"]["clusterIP"]) != "None" {
                    problems.push(format!(
                        "{}: serviceName {service_name:?} is not the headless Service {}",
                        o.at(),
                        s.name()
                    ));
                }
            }
        }
    }
    fail_on(
        &problems,
        "ports and probes that differ from infra/local/up.sh",
    );
}

#[test]
fn the_gateway_sink_postgres_and_kafka_keep_the_ports_of_infra_local() {
    let services = compose_services(&compose());
    let mut problems = Vec::new();

    let gateway_port = nginx_listen_port(LOCAL_NGINX);
    for rel in [COMPOSE_NGINX, K8S_NGINX] {
        if nginx_listen_port(rel) != gateway_port {
            problems.push(format!(
                "{rel}: listen is not {gateway_port} ({LOCAL_NGINX})"
            ));
        }
        let local = nginx_upstreams(LOCAL_NGINX);
        let ours = nginx_upstreams(rel);
        for (upstream, service) in [("command_api", "command-api"), ("query_api", "query-api")] {
            let want = format!("{service}:{}", local_port(service));
            let got = ours.get(upstream).cloned().unwrap_or_default();
            if got != want {
                problems.push(format!("{rel}: upstream {upstream} is {got:?}, not {want}"));
            }
            if local.get(upstream).map(|a| port_of(a)) != Some(local_port(service)) {
                problems.push(format!(
                    "{LOCAL_NGINX}: upstream {upstream} is not on {service}'s port"
                ));
            }
        }
    }
    let gw = &services["gateway"];
    if compose_ports(gw) != [(gateway_port, gateway_port)] {
        problems.push(format!(
            "{COMPOSE}: services.gateway.ports is not {gateway_port}:{gateway_port}"
        ));
    }
    if !command_line(&gw["healthcheck"]["test"]).contains(&format!(":{gateway_port}/healthz")) {
        problems.push(format!(
            "{COMPOSE}: services.gateway.healthcheck does not ask :{gateway_port}/healthz"
        ));
    }
    let objects = k8s_objects();
    match k8s_workload(&objects, "gateway") {
        None => problems.push("infra/k8s: no gateway workload".to_owned()),
        Some(o) => {
            for c in o.containers() {
                for probe in ["livenessProbe", "readinessProbe"] {
                    if resolve_port(c, &c[probe]["httpGet"]["port"]) != Some(gateway_port) {
                        problems.push(format!("{}: {probe} is not on {gateway_port}", o.at()));
                    }
                }
            }
        }
    }

    // The SMTP sink on the port the notifier is told.
    let smtp_port = lib_sh_default("FRESHLINE_SMTP_PORT");
    let notifier = compose_env(&services["notifier"]);
    let host = notifier
        .get("FRESHLINE_SMTP_HOST")
        .cloned()
        .unwrap_or_default();
    match services.get(&host) {
        None => problems.push(format!(
            "{COMPOSE}: FRESHLINE_SMTP_HOST {host:?} is no compose service"
        )),
        Some(sink) => {
            let bind = compose_env(sink)
                .get("MP_SMTP_BIND_ADDR")
                .cloned()
                .unwrap_or_default();
            if !bind.ends_with(&format!(":{smtp_port}")) {
                problems.push(format!(
                    "{COMPOSE}: services.{host} listens for SMTP on {bind:?}, not :{smtp_port}"
                ));
            }
            let published = compose_ports(sink)
                .iter()
                .any(|&(h, _)| h.to_string() == smtp_port);
            if !published {
                problems.push(format!(
                    "{COMPOSE}: services.{host} does not publish {smtp_port}"
                ));
            }
        }
    }
    if notifier.get("FRESHLINE_SMTP_PORT") != Some(&smtp_port) {
        problems.push(format!(
            "{COMPOSE}: services.notifier FRESHLINE_SMTP_PORT is not {smtp_port}"
        ));
    }

    // PostgreSQL published at infra/local's port; Kafka at infra/local's address.
    let pg_port: u16 = lib_sh_default("FRESHLINE_PG_PORT")
        .parse()
        .expect("PG port");
    if !compose_ports(&services["postgres"])
        .iter()
        .any(|&(h, c)| h == pg_port && c == 5432)
    {
        problems.push(format!(
            "{COMPOSE}: services.postgres does not publish {pg_port}:5432"
        ));
    }
    let lib = read("infra/local/lib.sh");
    let local_kafka = lib
        .lines()
        .find_map(|l| l.strip_prefix("KAFKA_BROKERS=\""))
        .map(|l| l.trim_end_matches('"').to_owned())
        .expect("infra/local/lib.sh sets KAFKA_BROKERS");
    let kafka = compose_env(&services["kafka"]);
    let advertised = kafka
        .get("KAFKA_ADVERTISED_LISTENERS")
        .cloned()
        .unwrap_or_default();
    let listeners = kafka.get("KAFKA_LISTENERS").cloned().unwrap_or_default();
    let host_listener = advertised
        .split(',')
        .find_map(|l| l.strip_suffix(&format!("://{local_kafka}")))
        .map(str::to_owned);
    match host_listener {
        None => problems.push(format!(
            "{COMPOSE}: kafka advertises no listener at {local_kafka}"
        )),
        Some(listener) => {
            let inner = listeners
                .split(',')
                .find_map(|l| l.strip_prefix(&format!("{listener}://")))
                .map(port_of);
            let published = compose_ports(&services["kafka"])
                .iter()
                .any(|&(h, c)| h == port_of(&local_kafka) && Some(c) == inner);
            if !published {
                problems.push(format!(
                    "{COMPOSE}: kafka does not publish {local_kafka} to its {listener} listener"
                ));
            }
        }
    }
    // Every service's brokers are the broker's in-network advertised address.
    let in_network = advertised
        .split(',')
        .find_map(|l| l.strip_prefix("PLAINTEXT://"))
        .unwrap_or_default()
        .to_owned();
    for (name, s) in &services {
        if let Some(b) = compose_env(s).get("FRESHLINE_KAFKA_BROKERS") {
            if *b != in_network {
                problems.push(format!("{COMPOSE}: services.{name} FRESHLINE_KAFKA_BROKERS is {b:?}, Kafka advertises {in_network:?}"));
            }
        }
    }
    fail_on(&problems, "dependency ports that differ from infra/local");
}

#[test]
fn the_container_gateway_is_the_local_gateway_with_only_addresses_and_paths_changed() {
    // Directives that differ by design: where files and logs go, foreground, listen and upstreams.
    const BY_DESIGN: &[&str] = &[
        "pid",
        "error_log",
        "daemon",
        "access_log",
        "client_body_temp_path",
        "proxy_temp_path",
        "fastcgi_temp_path",
        "uwsgi_temp_path",
        "scgi_temp_path",
        "upstream",
        "listen",
        // Where the frontends' files and the renditions are, and where people log in.
        "root",
        "alias",
        "set",
    ];
    let rules = |rel: &str| -> Vec<String> {
        read(rel)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter(|l| !BY_DESIGN.contains(&l.split_whitespace().next().unwrap_or_default()))
            .map(str::to_owned)
            .collect()
    };
    let local = rules(LOCAL_NGINX);
    let ours = rules(COMPOSE_NGINX);
    let first_difference = local
        .iter()
        .zip(&ours)
        .position(|(a, b)| a != b)
        .unwrap_or(local.len().min(ours.len()));
    assert!(
        local == ours,
        "{COMPOSE_NGINX} drifted from {LOCAL_NGINX} at rule {first_difference}: {:?} vs {:?}",
        local.get(first_difference),
        ours.get(first_difference)
    );
    assert_eq!(
        read(COMPOSE_NGINX),
        read(K8S_NGINX),
        "{K8S_NGINX} is a copy of {COMPOSE_NGINX}"
    );
}

#[test]
fn compose_kafka_has_the_settings_of_infra_kafka_server_properties() {
    // Listeners and paths differ by design (checked in the ports test); the rest must not.
    const LAYOUT: &[&str] = &[
        "listeners",
        "advertised.listeners",
        "controller.quorum.voters",
        "listener.security.protocol.map",
        "log.dirs",
    ];
    let services = compose_services(&compose());
    let kafka = &services["kafka"];
    let env = compose_env(kafka);
    let mut problems = Vec::new();
    let props = read("infra/kafka/server.properties");
    for line in props.lines().map(str::trim) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if line.starts_with('#') || LAYOUT.contains(&key) {
            continue;
        }
        // The apache/kafka image's mapping: KAFKA_ + upper case, '.' -> '_', '_' -> '__', '-' -> '___'.
        let var = format!(
            "KAFKA_{}",
            key.replace('_', "__")
                .replace('-', "___")
                .replace('.', "_")
                .to_uppercase()
        );
        match env.get(&var) {
            Some(v) if v == value => {}
            got => problems.push(format!("{COMPOSE}: services.kafka.environment.{var} is {got:?}, server.properties has {key}={value}")),
        }
    }
    // Same listener names on the same ports as the local broker.
    let local_listeners = props
        .lines()
        .find_map(|l| l.strip_prefix("listeners="))
        .expect("server.properties has listeners");
    let ours = env.get("KAFKA_LISTENERS").cloned().unwrap_or_default();
    for l in local_listeners.split(',') {
        let (name, addr) = l.split_once("://").expect("listener");
        let want = format!("{name}://0.0.0.0:{}", port_of(addr));
        if !ours.split(',').any(|o| o == want) {
            problems.push(format!(
                "{COMPOSE}: services.kafka KAFKA_LISTENERS lacks {want}"
            ));
        }
    }
    // The broker version of infra/kafka/pom.xml.
    let pom = read("infra/kafka/pom.xml");
    let version = pom
        .split("<kafka.version>")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("pom.xml has kafka.version");
    let image = text(&kafka["image"]);
    if image != format!("apache/kafka:{version}") {
        problems.push(format!(
            "{COMPOSE}: services.kafka.image is {image}, infra/kafka/pom.xml has Kafka {version}"
        ));
    }
    fail_on(&problems, "Kafka settings that differ from infra/kafka");
}

#[test]
fn compose_postgres_has_the_settings_of_infra_local_and_the_url_the_services_use() {
    let services = compose_services(&compose());
    let pg = &services["postgres"];
    let env = compose_env(pg);
    let command = command_line(&pg["command"]);
    let mut problems = Vec::new();
    let infra_up = read("infra/local/infra-up.sh");
    let conf = infra_up
        .split("<<CONF")
        .nth(1)
        .and_then(|r| r.split("\nCONF").next())
        .expect("infra-up.sh writes postgresql.conf settings");
    for line in conf.lines().map(str::trim) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if ["listen_addresses", "port", "unix_socket_directories"].contains(&key) {
            continue;
        }
        if !command
            .split_whitespace()
            .any(|w| w == format!("{key}={value}"))
        {
            problems.push(format!(
                "{COMPOSE}: services.postgres.command lacks -c {key}={value}"
            ));
        }
    }
    for (name, s) in &services {
        let Some(url) = compose_env(s).get("FRESHLINE_DATABASE_URL").cloned() else {
            continue;
        };
        let want = format!(
            "postgres://{}:{}@postgres:5432/{}",
            env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]
        );
        if url != want {
            problems.push(format!(
                "{COMPOSE}: services.{name} FRESHLINE_DATABASE_URL is {url:?}, not {want}"
            ));
        }
    }
    fail_on(
        &problems,
        "PostgreSQL settings that differ from infra/local",
    );
}

#[test]
fn compose_waits_on_health_and_checks_the_health_of_what_it_waits_on() {
    let services = compose_services(&compose());
    let mut problems = Vec::new();
    for (name, s) in &services {
        let deps = match &s["depends_on"] {
            Value::Null => continue,
            Value::Mapping(m) => m,
            _ => {
                problems.push(format!(
                    "{COMPOSE}: services.{name}.depends_on is a list; give each a condition"
                ));
                continue;
            }
        };
        for (dep, spec) in deps {
            let dep = text(dep);
            let condition = text(&spec["condition"]);
            let Some(target) = services.get(&dep) else {
                problems.push(format!(
                    "{COMPOSE}: services.{name}.depends_on.{dep} is no service"
                ));
                continue;
            };
            match condition.as_str() {
                "service_healthy" if target["healthcheck"].is_null() => problems.push(format!(
                    "{COMPOSE}: services.{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
                )),
                "service_healthy" | "service_completed_successfully" => {}
                other => problems.push(format!(
                    "{COMPOSE}: services.{name}.depends_on.{dep}.condition is {other:?}; wait for service_healthy or service_completed_successfully"
                )),
            }
        }
    }
    fail_on(&problems, "compose dependencies");
}

// --- (d) topics ---------------------------------------------------------------------------

#[test]
fn topics_named_in_the_deployment_files_are_the_ones_schemas_defines() {
    let known: BTreeSet<&str> = schemas::topics::ALL.iter().map(|t| t.name).collect();
    let mut problems = Vec::new();
    for file in deployment_files() {
        for (i, line) in read(&file).lines().enumerate() {
            let mut rest = line;
            while let Some(at) = rest.find("freshline.") {
                let tail = &rest[at..];
                let len = tail
                    .find(|c: char| {
                        !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
                    })
                    .unwrap_or(tail.len());
                let word = tail[..len].trim_end_matches('.');
                let looks_like_topic = word.rsplit('.').next().is_some_and(|v| {
                    v.len() > 1 && v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit())
                });
                if looks_like_topic && !known.contains(word) {
                    problems.push(format!(
                        "{file}:{}: {word} is not in schemas::topics::ALL",
                        i + 1
                    ));
                }
                rest = &tail[len.max(1)..];
            }
        }
    }
    fail_on(&problems, "unknown topics");
}

// --- (e) images ---------------------------------------------------------------------------

/// Why an image reference is not pinned, if it is not.
fn unpinned(image: &str) -> Option<&'static str> {
    if image.contains("@sha256:") {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some("has no tag (means :latest)"),
        Some((_, tag)) if ["latest", "stable", "mainline", "edge"].contains(&tag) => {
            Some("has a moving tag")
        }
        Some(_) => None,
    }
}

#[test]
fn every_image_is_pinned_and_ours_carries_the_workspace_version() {
    let version = env!("CARGO_PKG_VERSION");
    let mut images: Vec<(String, String)> = Vec::new();
    for (name, s) in compose_services(&compose()) {
        images.push((
            format!("{COMPOSE}: services.{name}.image"),
            text(&s["image"]),
        ));
    }
    for o in k8s_objects()
        .iter()
        .filter(|o| o.is_workload() || o.kind() == "Job")
    {
        for c in o
            .containers()
            .iter()
            .chain(seq(&o.pod_spec()["initContainers"]))
        {
            images.push((
                format!("{}: container {}", o.at(), text(&c["name"])),
                text(&c["image"]),
            ));
        }
    }
    for i in seq(&kustomization()["images"]) {
        images.push((
            format!("{KUSTOMIZATION}: images.{}", text(&i["name"])),
            format!("{}:{}", text(&i["newName"]), text(&i["newTag"])),
        ));
    }
    for (n, line) in read(DOCKERFILE).lines().enumerate() {
        if let Some(from) = line.strip_prefix("FROM ") {
            let image = from.split_whitespace().next().unwrap_or_default();
            images.push((format!("{DOCKERFILE}:{}", n + 1), image.to_owned()));
        }
    }
    let mut problems = Vec::new();
    for (at, image) in &images {
        if image.is_empty() {
            problems.push(format!("{at}: no image"));
        } else if let Some(why) = unpinned(image) {
            problems.push(format!("{at}: {image} {why}"));
        } else if is_freshline_image(image) && !image.ends_with(&format!(":{version}")) {
            problems.push(format!(
                "{at}: {image} is not the workspace version {version}"
            ));
        }
    }
    fail_on(&problems, "images not pinned");
}

// --- the image and the manifests' shape ------------------------------------------------------

#[test]
fn the_image_builds_every_binary_and_runs_as_the_user_kubernetes_names() {
    let dockerfile = read(DOCKERFILE);
    for needed in [
        "cargo build --release --locked --bins",
        "--mount=type=cache,target=/usr/local/cargo/registry",
        "FROM debian:bookworm-slim",
        "cmake",
        "ca-certificates",
    ] {
        assert!(dockerfile.contains(needed), "{DOCKERFILE} has `{needed}`");
    }
    let user = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("the Dockerfile sets a USER");
    let uid = user.split(':').next().unwrap_or_default().trim();
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u != 0),
        "{DOCKERFILE}: USER {user} is a numeric non-root uid"
    );
    let ignore = read(".dockerignore");
    for entry in ["target", ".local", ".git"] {
        assert!(
            ignore
                .lines()
                .any(|l| l.trim().trim_end_matches('/') == entry),
            ".dockerignore leaves out {entry}"
        );
    }
    let mut problems = Vec::new();
    for o in k8s_objects()
        .iter()
        .filter(|o| o.is_workload() || o.kind() == "Job")
    {
        let ours = o
            .containers()
            .iter()
            .any(|c| is_freshline_image(&text(&c["image"])));
        let ctx = &o.pod_spec()["securityContext"];
        if ours && text(&ctx["runAsUser"]) != uid {
            problems.push(format!(
                "{}: runAsUser is {:?}, the image's USER is {uid}",
                o.at(),
                text(&ctx["runAsUser"])
            ));
        }
        if ctx["runAsNonRoot"].as_bool() != Some(true) {
            problems.push(format!(
                "{}: securityContext.runAsNonRoot is not true",
                o.at()
            ));
        }
    }
    fail_on(&problems, "pods and the image's user");
}

#[test]
fn kubernetes_workloads_have_resources_and_the_replicas_their_roles_allow() {
    let objects = k8s_objects();
    let mut problems = Vec::new();
    for o in objects
        .iter()
        .filter(|o| o.is_workload() || o.kind() == "Job")
    {
        for c in o.containers() {
            for bound in ["requests", "limits"] {
                for r in ["cpu", "memory"] {
                    if text(&c["resources"][bound][r]).is_empty() {
                        problems.push(format!(
                            "{}: container {} has no resources.{bound}.{r}",
                            o.at(),
                            text(&c["name"])
                        ));
                    }
                }
            }
        }
    }
    // The relay publishes only while it holds its advisory lock: more replicas only stand by.
    match k8s_workload(&objects, "outbox-relay") {
        Some(o) if o.doc["spec"]["replicas"].as_u64() == Some(1) => {}
        _ => problems.push("infra/k8s: outbox-relay must have replicas: 1".to_owned()),
    }
    // The saga's static membership id is its pod's name, stable only in a StatefulSet.
    match k8s_workload(&objects, "fulfilment-saga") {
        Some(o) => {
            if o.kind() != "StatefulSet" {
                problems.push(format!("{}: must be a StatefulSet", o.at()));
            }
            if o.doc["spec"]["replicas"].as_u64() != Some(1) {
                problems.push(format!("{}: must have replicas: 1", o.at()));
            }
            let named_by_pod = o.containers().iter().any(|c| {
                text(
                    &container_env(c)
                        .get("FRESHLINE_SAGA_INSTANCE_ID")
                        .cloned()
                        .unwrap_or_default()["valueFrom"]["fieldRef"]["fieldPath"],
                ) == "metadata.name"
            });
            if !named_by_pod {
                problems.push(format!(
                    "{}: FRESHLINE_SAGA_INSTANCE_ID is not the pod's metadata.name",
                    o.at()
                ));
            }
        }
        None => problems.push("infra/k8s: no fulfilment-saga".to_owned()),
    }
    fail_on(&problems, "workload shape");
}

#[test]
fn kustomization_lists_every_manifest_in_the_directory() {
    let listed: BTreeSet<String> = seq(&kustomization()["resources"])
        .iter()
        .map(text)
        .collect();
    let on_disk: BTreeSet<String> = deployment_files()
        .into_iter()
        .filter_map(|f| f.strip_prefix("infra/k8s/").map(str::to_owned))
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    let unlisted: Vec<_> = on_disk.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&on_disk).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "{KUSTOMIZATION}: resources leave out {unlisted:?} and name missing files {missing:?}"
    );
    for o in k8s_objects() {
        assert!(
            !o.kind().is_empty() && !o.name().is_empty() && !text(&o.doc["apiVersion"]).is_empty(),
            "{}: every object has apiVersion, kind and metadata.name",
            o.file
        );
    }
}
