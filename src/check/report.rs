//! Writing a run down: a line per case as it finishes (✔ passed, ✘ failed,
//! – skipped) with what a failure saw under it, a summary line, and the
//! machine forms CI systems read (`--json`, `--junit FILE`).
//!
//! Colours only when asked (a terminal without `NO_COLOR`); every form
//! shows received bytes escaped ([`super::wire::escape`]), never raw.

use std::fmt::Write as _;

use super::case::{Case, Failure};
use super::runner::{CaseReport, Report, Verdict, seconds};
use super::wire::display;

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour { format!("{code}{text}{RESET}") } else { text.to_owned() }
}

/// `--list`: one line per case, its id, level and description.
pub fn list(cases: &[Case]) -> String {
    let width = cases.iter().map(|c| c.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in cases {
        let _ = writeln!(out, "{:width$}  {:6}  {}", c.id, c.level.name(), c.description);
    }
    out
}

/// The lines for one finished case.
pub fn case_lines(r: &CaseReport, colour: bool) -> String {
    let c = &r.case;
    let level = if c.level == super::case::Level::Should { " [should]" } else { "" };
    let mut out = String::new();
    match &r.verdict {
        Verdict::Passed => {
            let _ = writeln!(
                out,
                "{} {}  {}",
                paint(colour, GREEN, "✔"),
                c.id,
                paint(colour, DIM, c.description)
            );
        }
        Verdict::Skipped(why) => {
            let _ =
                writeln!(out, "{} {}  {} (skipped: {why})", paint(colour, YELLOW, "–"), c.id, c.description);
        }
        Verdict::Failed(f) => {
            let counted = if r.counted { "" } else { " (not counted without --strict)" };
            let _ = writeln!(out, "{} {}{level}  {}{counted}", paint(colour, RED, "✘"), c.id, c.description);
            out.push_str(&failure_lines(c, f, "    "));
        }
    }
    out
}

/// What a failure saw, one fact per line, each starting with `indent`.
pub fn failure_lines(c: &Case, f: &Failure, indent: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{indent}rule ({}): \"{}\"", c.section, c.rule);
    let _ = writeln!(out, "{indent}expected: {}", f.expected);
    let _ = writeln!(out, "{indent}actual:   {}", f.actual);
    if !f.sent.is_empty() {
        let _ = writeln!(out, "{indent}sent:     {}", display(&f.sent));
    }
    if !f.received.is_empty() || !f.sent.is_empty() {
        let _ = writeln!(out, "{indent}received: {}", display(&f.received));
    }
    out
}

/// The closing lines: `N passed, M failed, K skipped`, and what did not
/// count.
pub fn summary(r: &Report, colour: bool) -> String {
    let line = format!("{} passed, {} failed, {} skipped", r.passed(), r.failed(), r.skipped());
    let line = paint(colour, if r.failed() > 0 { RED } else { GREEN }, &line);
    let mut out = format!("\n{line} ({} against {}, in {})\n", r.suite.name(), r.target, seconds(r.elapsed));
    if r.uncounted() > 0 {
        let _ = writeln!(
            out,
            "{} should-level case(s) failed and were not counted: run with --strict to count them",
            r.uncounted()
        );
    }
    out
}

/// `--json`: the run as one JSON document.
pub fn json(r: &Report) -> String {
    let cases: Vec<serde_json::Value> = r
        .cases
        .iter()
        .map(|c| {
            let mut v = serde_json::json!({
                "id": c.case.id,
                "level": c.case.level.name(),
                "section": c.case.section,
                "description": c.case.description,
                "rule": c.case.rule,
                "counted": c.counted,
                "duration_ms": c.duration.as_secs_f64() * 1000.0,
            });
            match &c.verdict {
                Verdict::Passed => v["result"] = "passed".into(),
                Verdict::Skipped(why) => {
                    v["result"] = "skipped".into();
                    v["reason"] = why.as_str().into();
                }
                Verdict::Failed(f) => {
                    v["result"] = "failed".into();
                    v["expected"] = f.expected.as_str().into();
                    v["actual"] = f.actual.as_str().into();
                    v["sent"] = super::wire::escape(&f.sent).into();
                    v["received"] = super::wire::escape(&f.received).into();
                }
            }
            v
        })
        .collect();
    let doc = serde_json::json!({
        "suite": r.suite.name(),
        "target": r.target,
        "strict": r.strict,
        "passed": r.passed(),
        "failed": r.failed(),
        "skipped": r.skipped(),
        "uncounted_failures": r.uncounted(),
        "duration_ms": r.elapsed.as_secs_f64() * 1000.0,
        "cases": cases,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// `--junit FILE`: JUnit XML, one test suite, one test case per case. A
/// *should* failure that does not count is written as skipped, saying so,
/// so the CI system agrees with the exit status.
pub fn junit(r: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let name = format!("p2pci check {} {}", r.suite.name(), r.target);
    let skipped = r.skipped() + r.uncounted();
    let _ = writeln!(
        out,
        "<testsuites name=\"p2pci check\" tests=\"{}\" failures=\"{}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        r.cases.len(),
        r.failed(),
        r.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.3}\">",
        xml(&name),
        r.cases.len(),
        r.failed(),
        r.elapsed.as_secs_f64()
    );
    for c in &r.cases {
        let class = match c.case.id.rsplit_once('.') {
            Some((group, _)) => format!("{}.{group}", r.suite.name()),
            None => r.suite.name().to_owned(),
        };
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml(&class),
            xml(&format!("{} [{}]: {}", c.case.id, c.case.level.name(), c.case.description)),
            c.duration.as_secs_f64()
        );
        match &c.verdict {
            Verdict::Passed => out.push_str("/>\n"),
            Verdict::Skipped(why) => {
                let _ = writeln!(out, ">\n      <skipped message=\"{}\"/>\n    </testcase>", xml(why));
            }
            Verdict::Failed(f) if !c.counted => {
                let why = format!("should-level failure, not counted without --strict: {}", f.actual);
                let _ = writeln!(out, ">\n      <skipped message=\"{}\"/>\n    </testcase>", xml(&why));
            }
            Verdict::Failed(f) => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    xml(&format!("expected {}; actual {}", f.expected, f.actual)),
                    c.case.level.name(),
                    xml(&failure_lines(&c.case, f, ""))
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Text made safe inside an XML attribute or element. What it is given is
/// already free of control characters but tab and LF (received bytes are
/// escaped first), and those two are kept as character references.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::case::{CaseResult, Ctx, Level, Suite};
    use std::time::Duration;

    fn never(_: &Ctx) -> futures::future::BoxFuture<'_, CaseResult> {
        Box::pin(async { Ok(()) })
    }

    fn report() -> Report {
        let case = |id, level| Case {
            id,
            level,
            section: "The answer",
            description: "desc",
            rule: "a <rule>",
            run: never,
        };
        let failure = Failure {
            expected: "200".into(),
            actual: "404 & more".into(),
            sent: b"LIST ALL P2P-CI/1.0\r\n\r\n".to_vec(),
            received: b"P2P-CI/1.0 404 Not Found\n\x1b".to_vec(),
        };
        Report {
            suite: Suite::Server,
            target: "127.0.0.1:7734".into(),
            strict: false,
            cases: vec![
                CaseReport {
                    case: case("p2s.a.one", Level::Must),
                    verdict: Verdict::Passed,
                    duration: Duration::ZERO,
                    counted: true,
                },
                CaseReport {
                    case: case("p2s.a.two", Level::Must),
                    verdict: Verdict::Failed(failure.clone()),
                    duration: Duration::ZERO,
                    counted: true,
                },
                CaseReport {
                    case: case("p2s.b", Level::Should),
                    verdict: Verdict::Failed(failure),
                    duration: Duration::ZERO,
                    counted: false,
                },
                CaseReport {
                    case: case("p2s.c", Level::Must),
                    verdict: Verdict::Skipped("busy".into()),
                    duration: Duration::ZERO,
                    counted: true,
                },
            ],
            elapsed: Duration::from_millis(1500),
        }
    }

    #[test]
    fn text_lines_and_summary() {
        let r = report();
        let text: String = r.cases.iter().map(|c| case_lines(c, false)).collect();
        assert!(
            text.starts_with("✔ p2s.a.one  desc\n✘ p2s.a.two  desc\n    rule (The answer): \"a <rule>\"\n"),
            "{text}"
        );
        assert!(text.contains("    received: \"P2P-CI/1.0 404 Not Found\\n\\x1b\"\n"), "{text}");
        assert!(text.contains("✘ p2s.b [should]  desc (not counted without --strict)\n"), "{text}");
        assert!(text.contains("– p2s.c  desc (skipped: busy)\n"), "{text}");
        assert!(!text.contains('\x1b'));
        let s = summary(&r, false);
        assert!(s.contains("1 passed, 1 failed, 1 skipped (server against 127.0.0.1:7734, in 1.5 s)"), "{s}");
        assert!(s.contains("1 should-level case(s) failed and were not counted"), "{s}");
        assert!(case_lines(&r.cases[0], true).contains("\x1b[32m✔\x1b[0m"));
    }

    #[test]
    fn json_and_junit_agree_with_the_counts() {
        let r = report();
        let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(
            (v["passed"].as_u64(), v["failed"].as_u64(), v["skipped"].as_u64()),
            (Some(1), Some(1), Some(1))
        );
        assert_eq!(v["cases"][1]["received"], "P2P-CI/1.0 404 Not Found\\n\\x1b");
        assert_eq!(v["cases"][3]["reason"], "busy");
        let x = junit(&r);
        assert!(x.contains("tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"2\""), "{x}");
        assert!(x.contains("classname=\"server.p2s.a\" name=\"p2s.a.two [must]: desc\""), "{x}");
        assert!(x.contains("404 &amp; more"), "{x}");
        assert!(!x.contains("<rule>") && !x.contains('\x1b'));
    }
}
