//! The README's configuration table, the variables the server reads, and the variables the
//! shipped deployments set (`deploy/compose.yaml`, `deploy/systemd/kagami.env.example`, the
//! systemd unit, `deploy/Dockerfile`) agree: nothing is read undocumented, nothing documented
//! is ignored, and no deployment sets a variable the server does not know.

use std::{cell::RefCell, collections::BTreeSet, path::Path};

use crate::settings::Settings;

/// Every variable [`Settings::from_env`] asks for, found by running it with a recording
/// environment: once empty (embedded store) and once on PostgreSQL by parts, so that both
/// branches are taken.
fn variables_the_server_reads() -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    for environment in [
        &[][..],
        &[
            ("POSTGRES_HOST", "db.internal"),
            ("API_KEY_SALT", "0123456789abcdef"),
        ][..],
    ] {
        let settings = Settings::from_env(|name| {
            asked.borrow_mut().insert(name.to_owned());
            environment
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        });
        assert!(settings.is_ok(), "{environment:?}: {settings:?}");
    }
    asked.into_inner()
}

/// Whether `word` looks like an environment variable name.
fn is_variable(word: &str) -> bool {
    word.len() > 2
        && word.starts_with(|c: char| c.is_ascii_uppercase())
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The variables of the README's "Configuration" table: every `` `NAME` `` in the first cell
/// of its rows.
fn readme_table(readme: &str) -> BTreeSet<String> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Configuration"))
        .unwrap_or_default();
    section
        .lines()
        .filter_map(|line| line.strip_prefix('|'))
        .filter_map(|row| row.split('|').next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .filter(|word| is_variable(word))
        .map(str::to_owned)
        .collect()
}

/// The variables a compose file sets or substitutes: upper-case mapping keys (compose's own
/// keys are lower case, so these are `environment:` entries) and `${NAME…}` references.
fn compose_variables(compose: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in compose.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        if let Some((key, _)) = trimmed.split_once(':')
            && is_variable(key)
        {
            names.insert(key.to_owned());
        }
        for reference in line.split("${").skip(1) {
            let name: String = reference
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    names
}

/// `NAME=` assignments: with an empty `prefix`, the first word of each line, commented out
/// (`#NAME=`) or not, as in an environment file; else every word of the lines starting with
/// `prefix` (`Environment=A=1 B=2` in a unit, `ENV A=1 B=2` in a Dockerfile).
fn assignments(text: &str, prefix: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.trim_start().strip_prefix(prefix))
        .flat_map(|rest| {
            let words = rest.split_whitespace();
            if prefix.is_empty() {
                words.take(1).collect::<Vec<_>>()
            } else {
                words.collect()
            }
        })
        .filter_map(|word| word.trim_start_matches('#').split_once('='))
        .map(|(name, _)| name.to_owned())
        .filter(|name| is_variable(name))
        .collect()
}

/// The names in `used` that are not in `documented`.
fn undocumented(used: &BTreeSet<String>, documented: &BTreeSet<String>) -> Vec<String> {
    used.difference(documented).cloned().collect()
}

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

#[test]
fn the_readme_documents_exactly_the_variables_the_server_reads() {
    let table = readme_table(&read("README.md"));
    let read_by_server = variables_the_server_reads();
    assert!(read_by_server.len() >= 15, "{read_by_server:?}");
    assert_eq!(
        undocumented(&read_by_server, &table),
        Vec::<String>::new(),
        "read by the server but missing from the README's configuration table"
    );
    assert_eq!(
        undocumented(&table, &read_by_server),
        Vec::<String>::new(),
        "in the README's configuration table but never read by the server"
    );
}

#[test]
fn the_deployments_set_only_documented_variables() {
    let table = readme_table(&read("README.md"));
    let compose = compose_variables(&read("deploy/compose.yaml"));
    for expected in ["DATABASE_URL", "API_KEY_SALT", "KAGAMI_BIND"] {
        assert!(compose.contains(expected), "{compose:?}");
    }
    assert_eq!(
        undocumented(&compose, &table),
        Vec::<String>::new(),
        "compose.yaml"
    );

    let unit = assignments(
        &read("deploy/systemd/kagami-server.service"),
        "Environment=",
    );
    assert!(unit.contains("KAGAMI_DATA_DIR"), "{unit:?}");
    assert_eq!(
        undocumented(&unit, &table),
        Vec::<String>::new(),
        "the unit"
    );

    let image = assignments(&read("deploy/Dockerfile"), "ENV ");
    assert!(image.contains("KAGAMI_BIND"), "{image:?}");
    assert_eq!(
        undocumented(&image, &table),
        Vec::<String>::new(),
        "Dockerfile"
    );

    // The environment file example lists every variable, so it is the table's mirror.
    let example = assignments(&read("deploy/systemd/kagami.env.example"), "");
    assert_eq!(
        example, table,
        "kagami.env.example lists every documented variable"
    );
}

#[test]
fn a_variable_missing_from_the_table_is_reported() {
    let readme = "# K\n\n## Configuration\n\n| variable | default |\n|---|---|\n\
                  | `KAGAMI_BIND` | `127.0.0.1:8000` |\n| `POSTGRES_HOST` / `POSTGRES_PORT` | unset / `5432` |\n\n\
                  ## Production\n\n| `NOT_IN_TABLE` | x |\n";
    let table = readme_table(readme);
    assert_eq!(
        table,
        BTreeSet::from(["KAGAMI_BIND", "POSTGRES_HOST", "POSTGRES_PORT"].map(str::to_owned))
    );
    let compose = "x-env: &env\n  KAGAMI_BIND: 0.0.0.0:8000\n  # KAGAMI_COMMENTED: 1\n\
                   services:\n  app:\n    environment:\n      KAGAMI_BOGUS: \"1\"\n      URL: ${POSTGRES_HOST:-db}/${NOT_DOCUMENTED}\n";
    assert_eq!(
        undocumented(&compose_variables(compose), &table),
        ["KAGAMI_BOGUS", "NOT_DOCUMENTED", "URL"]
    );
    let env_file = "KAGAMI_BIND=1\n#POSTGRES_PORT=5432\n# a comment, not A_VARIABLE=1\n";
    assert_eq!(
        assignments(env_file, ""),
        BTreeSet::from(["KAGAMI_BIND", "POSTGRES_PORT"].map(str::to_owned))
    );
}
