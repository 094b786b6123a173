//! The shipped alert rules (`deploy/prometheus/alerts.yml`, and the input series of their unit
//! tests in `alerts_test.yml`) and the Grafana dashboard (`deploy/grafana/kagami.json`) name
//! only series the service exports ([`SERIES`]), so a renamed or removed series breaks the
//! build instead of silently blinding an alert or a panel.

use std::collections::BTreeSet;

use super::{SERIES, SeriesKind};

/// Series Prometheus itself records for every scrape target, which rules may use.
const PROMETHEUS_SERIES: &[&str] = &["up"];

/// The PromQL functions (Prometheus 2.x and 3.x) and Grafana's template functions.
const FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "double_exponential_smoothing",
    "end",
    "exp",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "info",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "mad_over_time",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_by_label",
    "sort_by_label_desc",
    "sort_desc",
    "sqrt",
    "start",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

/// Aggregation operators: followed by `(` or by a `by`/`without` clause.
const AGGREGATIONS: &[&str] = &[
    "avg",
    "bottomk",
    "count",
    "count_values",
    "group",
    "limit_ratio",
    "limitk",
    "max",
    "min",
    "quantile",
    "stddev",
    "stdvar",
    "sum",
    "topk",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Other keywords and literals.
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
];

/// The metric names an expression selects: every identifier that is not a function,
/// aggregation, keyword, label name (inside `{…}` or a `by (…)`-style list) or literal.
/// Strings, `[…]` ranges, `#` comments and Grafana `$variables` are skipped. An unknown word
/// followed by `(` comes out as a name too, so a typo'd function fails the check rather than
/// hiding a series.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_until(&chars, i, '}'),
            '[' => i = skip_until(&chars, i, ']'),
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '$' => {
                i += 1;
                while i < chars.len() && is_word(chars[i]) {
                    i += 1;
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // Numbers and durations: 0.99, 1e6, 5m, 0x1f.
                while i < chars.len() && (is_word(chars[i]) || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len() && is_word(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let lower = word.to_ascii_lowercase();
                let next = next_word_or_char(&chars, i);
                if LABEL_LISTS.contains(&lower.as_str()) {
                    if next.as_deref() == Some("(") {
                        i = skip_until(&chars, skip_space(&chars, i), ')');
                    }
                    continue;
                }
                let function = FUNCTIONS.contains(&word.as_str()) && next.as_deref() == Some("(");
                let aggregation = AGGREGATIONS.contains(&word.as_str())
                    && matches!(next.as_deref(), Some("(" | "by" | "without"));
                if !(function || aggregation || KEYWORDS.contains(&lower.as_str())) {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn skip_space(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

/// The next token after `i`: a word, or a single character.
fn next_word_or_char(chars: &[char], i: usize) -> Option<String> {
    let i = skip_space(chars, i);
    let first = *chars.get(i)?;
    if !is_word(first) {
        return Some(first.to_string());
    }
    Some(chars[i..].iter().take_while(|c| is_word(**c)).collect())
}

/// The index after the string literal opening at `i` (backslash escapes except in raw
/// backtick strings).
fn skip_string(chars: &[char], i: usize) -> usize {
    let quote = chars[i];
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            '\\' if quote != '`' => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    j
}

/// The index after the `close` matching the opener at `i`, skipping strings in between.
fn skip_until(chars: &[char], i: usize, close: char) -> usize {
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            '"' | '\'' | '`' => j = skip_string(chars, j),
            c if c == close => return j + 1,
            _ => j += 1,
        }
    }
    j
}

/// Whether `name` is a series the service exports (histograms also as `_bucket`, `_sum`,
/// `_count`) or one Prometheus records itself.
fn is_known_series(name: &str) -> bool {
    PROMETHEUS_SERIES.contains(&name)
        || SERIES.iter().any(|series| {
            name == series.name
                || (series.kind == SeriesKind::Histogram
                    && ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|suffix| name.strip_prefix(series.name) == Some(*suffix)))
        })
}

/// `(expression, name)` for every name in `exprs` that is not a known series.
fn unknown_series<'a>(exprs: impl IntoIterator<Item = &'a str>) -> Vec<(String, String)> {
    exprs
        .into_iter()
        .flat_map(|expr| {
            metric_names(expr)
                .into_iter()
                .filter(|name| !is_known_series(name))
                .map(move |name| (expr.to_owned(), name))
        })
        .collect()
}

/// The `expr:` values of a rules file: plain scalars on the line, or block scalars (`>-`, `|`)
/// on the more-indented lines that follow.
fn rule_expressions(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut exprs = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(value) = trimmed.strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let indent = line.len() - trimmed.len();
            let block: Vec<&str> = lines[n + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                .map(|l| l.trim())
                .collect();
            exprs.push(block.join(" ").trim().to_owned());
        } else {
            exprs.push(unquote(value).to_owned());
        }
    }
    exprs
}

/// The series selectors of a rule test file's `series:` inputs.
fn test_input_series(yaml: &str) -> Vec<String> {
    yaml.lines()
        .filter_map(|line| line.trim_start().strip_prefix("- series:"))
        .map(|value| unquote(value.trim()).to_owned())
        .collect()
}

fn unquote(value: &str) -> &str {
    ['\'', '"']
        .iter()
        .find_map(|q| value.strip_prefix(*q)?.strip_suffix(*q))
        .unwrap_or(value)
}

/// Every PromQL query of a Grafana dashboard: the `expr` of each target, at any depth, and the
/// metric part of `label_values(metric, label)` template variables.
fn dashboard_queries(dashboard: &serde_json::Value) -> Vec<String> {
    let mut queries = Vec::new();
    collect_queries(dashboard, &mut queries);
    queries
}

fn collect_queries(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", serde_json::Value::String(expr)) => out.push(expr.clone()),
                    ("definition", serde_json::Value::String(def)) => {
                        let metric = def
                            .trim()
                            .strip_prefix("label_values(")
                            .and_then(|rest| rest.strip_suffix(')'))
                            .and_then(|args| args.rsplit_once(','))
                            .map(|(metric, _label)| metric);
                        out.extend(metric.map(str::to_owned));
                    }
                    _ => collect_queries(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_queries(v, out)),
        _ => {}
    }
}

fn read_deployed(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

#[test]
fn extractor_finds_metric_names_and_skips_functions_labels_and_literals() {
    let names = |expr: &str| metric_names(expr).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names("rate(forward_path_churn_total[5m]) > 10"),
        ["forward_path_churn_total"]
    );
    assert_eq!(
        names(
            r#"histogram_quantile(0.99, sum by (job, le) (rate(kagami_http_request_duration_seconds_bucket{route="/api/v1/agents/{agent_uuid}", le!~"x(y)"}[$__rate_interval])))"#
        ),
        ["kagami_http_request_duration_seconds_bucket"]
    );
    assert_eq!(
        names(
            "sum without (state) (a) / on (job, instance) group_left (route) b unless ignoring(le) c_total offset 5m and bool d:recorded # comment e"
        ),
        ["a", "b", "c_total", "d:recorded"]
    );
    assert_eq!(
        names("sum(increase(x[1h])) / 1e6 > 10000 or vector(0)"),
        ["x"]
    );
    assert_eq!(names("up == 0"), ["up"]);
    assert_eq!(
        names("max(x) by (le) + topk(10, y)"),
        ["x", "y"],
        "aggregations with trailing clauses"
    );
    assert_eq!(
        names("sumz(x)"),
        ["sumz", "x"],
        "an unknown function comes out as a name, so the check fails on it"
    );
}

#[test]
fn check_rejects_a_name_that_is_not_an_exported_series() {
    let exprs = [
        "rate(kagami_http_requests_total[5m])",
        "histogram_quantile(0.9, rate(kagami_http_request_duration_seconds_bucket[5m]))",
        "sum(kagami_bogus_total) + kagami_settlements_total_bucket + manifest_verification_duration_seconds_count",
    ];
    assert_eq!(
        unknown_series(exprs)
            .into_iter()
            .map(|(_, name)| name)
            .collect::<Vec<_>>(),
        ["kagami_bogus_total", "kagami_settlements_total_bucket"],
        "only histograms have _bucket series"
    );
}

#[test]
fn shipped_alert_rules_query_only_exported_series() {
    let rules = read_deployed("deploy/prometheus/alerts.yml");
    let exprs = rule_expressions(&rules);
    let alerts = rules
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    assert!(alerts >= 10, "{alerts} alert rules found");
    assert_eq!(exprs.len(), alerts, "one expression per rule: {exprs:#?}");
    assert!(exprs.iter().all(|e| !e.is_empty()), "{exprs:#?}");
    assert_eq!(unknown_series(exprs.iter().map(String::as_str)), []);

    let tests = read_deployed("deploy/prometheus/alerts_test.yml");
    let inputs = test_input_series(&tests);
    assert!(inputs.len() >= 10, "{inputs:#?}");
    assert_eq!(unknown_series(inputs.iter().map(String::as_str)), []);
}

#[test]
fn every_shipped_alert_rule_has_severity_summary_description_and_runbook() {
    let rules = read_deployed("deploy/prometheus/alerts.yml");
    let blocks: Vec<&str> = rules.split("- alert:").skip(1).collect();
    assert!(!blocks.is_empty());
    for block in blocks {
        let name = block.lines().next().unwrap_or_default().trim();
        for key in ["severity:", "summary:", "description:", "runbook:", "expr:"] {
            assert!(block.contains(key), "alert {name} has no {key}");
        }
    }
}

#[test]
fn shipped_dashboard_is_json_and_queries_only_exported_series() {
    let text = read_deployed("deploy/grafana/kagami.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("kagami.json is not JSON: {e}"));
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 15, "{queries:#?}");
    assert_eq!(unknown_series(queries.iter().map(String::as_str)), []);
    let names: BTreeSet<String> = queries.iter().flat_map(|q| metric_names(q)).collect();
    for series in SERIES {
        assert!(
            names.iter().any(|n| n.starts_with(series.name)),
            "the dashboard shows no panel of {}",
            series.name
        );
    }
}
