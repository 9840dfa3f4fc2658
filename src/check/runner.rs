//! Running a suite: choosing cases by id or prefix, running each within
//! its `--timeout`, and counting what counts (every *must*; *should* only
//! with `--strict`).
//!
//! Cases run one after another, never at once: the checker is a
//! correctness tool, not a load generator, and a case's records must be
//! gone before the next looks at the index.

use std::time::{Duration, Instant};

use super::case::{Case, CaseResult, Ctx, Failure, Level, Stop, Suite};

/// What became of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed(Failure),
    Skipped(String),
}

/// One case's line in the report.
#[derive(Debug, Clone)]
pub struct CaseReport {
    pub case: Case,
    pub verdict: Verdict,
    pub duration: Duration,
    /// Whether a failure here decides the exit status.
    pub counted: bool,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Report {
    pub suite: Suite,
    pub target: String,
    pub strict: bool,
    pub cases: Vec<CaseReport>,
    pub elapsed: Duration,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.verdict == Verdict::Passed).count()
    }

    /// Failures that count.
    pub fn failed(&self) -> usize {
        self.cases.iter().filter(|c| c.counted && matches!(c.verdict, Verdict::Failed(_))).count()
    }

    /// *should* failures that do not count (no `--strict`).
    pub fn uncounted(&self) -> usize {
        self.cases.iter().filter(|c| !c.counted && matches!(c.verdict, Verdict::Failed(_))).count()
    }

    pub fn skipped(&self) -> usize {
        self.cases.iter().filter(|c| matches!(c.verdict, Verdict::Skipped(_))).count()
    }

    /// The ids of the cases that failed, counted or not.
    pub fn failed_ids(&self) -> Vec<&'static str> {
        self.cases.iter().filter(|c| matches!(c.verdict, Verdict::Failed(_))).map(|c| c.case.id).collect()
    }

    /// 0 when every counted case passed (or was skipped), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.failed() > 0)
    }
}

/// The cases `patterns` select, in suite order: a pattern selects the case
/// of that id and every case whose id starts with it followed by a dot
/// (`p2s.bad` selects `p2s.bad.method`); no pattern selects all. A pattern
/// that selects nothing is an error (a typo must not pass silently).
pub fn select(cases: &[Case], patterns: &[String]) -> Result<Vec<Case>, String> {
    if patterns.is_empty() {
        return Ok(cases.to_vec());
    }
    let matches = |id: &str, p: &str| {
        let p = p.trim_end_matches('.');
        id == p || id.strip_prefix(p).is_some_and(|rest| rest.starts_with('.'))
    };
    if let Some(p) = patterns.iter().find(|p| !cases.iter().any(|c| matches(c.id, p))) {
        return Err(format!("no case matches {p:?} (see --list)"));
    }
    Ok(cases.iter().filter(|c| patterns.iter().any(|p| matches(c.id, p))).copied().collect())
}

/// Runs `cases` one by one against `ctx`'s target, telling `on_case` of
/// each result as it comes.
pub async fn run(
    suite: Suite,
    cases: &[Case],
    ctx: &Ctx,
    strict: bool,
    mut on_case: impl FnMut(&CaseReport),
) -> Report {
    let started = Instant::now();
    let mut reports = Vec::with_capacity(cases.len());
    for case in cases {
        let report = run_one(case, ctx, strict).await;
        on_case(&report);
        reports.push(report);
    }
    Report { suite, target: ctx.target.clone(), strict, cases: reports, elapsed: started.elapsed() }
}

async fn run_one(case: &Case, ctx: &Ctx, strict: bool) -> CaseReport {
    ctx.reset_exchange();
    let started = Instant::now();
    let result: CaseResult = match tokio::time::timeout(ctx.timeout, (case.run)(ctx)).await {
        Ok(r) => r,
        Err(_) => Err(ctx.fail(
            format!("the case to finish within --timeout ({})", seconds(ctx.timeout)),
            "the target had not answered in full by then",
        )),
    };
    let verdict = match result {
        Ok(()) => Verdict::Passed,
        Err(Stop::Fail(f)) => Verdict::Failed(f),
        Err(Stop::Skip(why)) => Verdict::Skipped(why),
    };
    CaseReport {
        case: *case,
        verdict,
        duration: started.elapsed(),
        counted: case.level == Level::Must || strict,
    }
}

/// `1.5 s`, `250 ms`.
pub fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn pass(_: &Ctx) -> futures::future::BoxFuture<'_, CaseResult> {
        async { Ok(()) }.boxed()
    }

    fn hang(_: &Ctx) -> futures::future::BoxFuture<'_, CaseResult> {
        futures::future::pending().boxed()
    }

    fn fail(ctx: &Ctx) -> futures::future::BoxFuture<'_, CaseResult> {
        async { Err(ctx.fail("x", "y")) }.boxed()
    }

    const fn case(id: &'static str, level: Level, run: super::super::case::RunFn) -> Case {
        Case { id, level, section: "Framing", description: "d", rule: "r", run }
    }

    const CASES: [Case; 4] = [
        case("p2s.add.echo", Level::Must, pass),
        case("p2s.add.idempotent", Level::Must, pass),
        case("p2s.addx", Level::Must, pass),
        case("framing.bare-lf", Level::Should, fail),
    ];

    #[test]
    fn selection_by_id_or_dotted_prefix() {
        let ids = |p: &[&str]| {
            select(&CASES, &p.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map(|cs| cs.iter().map(|c| c.id).collect::<Vec<_>>())
        };
        assert_eq!(ids(&[]).unwrap().len(), 4);
        assert_eq!(ids(&["p2s.add"]).unwrap(), ["p2s.add.echo", "p2s.add.idempotent"]);
        assert_eq!(ids(&["p2s.add."]).unwrap(), ["p2s.add.echo", "p2s.add.idempotent"]);
        assert_eq!(ids(&["p2s.addx", "framing"]).unwrap(), ["p2s.addx", "framing.bare-lf"]);
        assert!(ids(&["p2s.ad"]).unwrap_err().contains("\"p2s.ad\""));
    }

    #[tokio::test]
    async fn a_hanging_case_fails_at_its_timeout_and_should_counts_only_when_strict() {
        let ctx = Ctx::new("127.0.0.1:9".into(), Duration::from_millis(50), None);
        let cases = [case("a.hang", Level::Must, hang), CASES[3]];
        let started = Instant::now();
        let report = run(Suite::Server, &cases, &ctx, false, |_| {}).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(matches!(&report.cases[0].verdict, Verdict::Failed(f) if f.expected.contains("--timeout")));
        assert_eq!((report.failed(), report.uncounted(), report.exit_code()), (1, 1, 1));
        let strict = run(Suite::Server, &cases[1..], &ctx, true, |_| {}).await;
        assert_eq!((strict.failed(), strict.uncounted(), strict.exit_code()), (1, 0, 1));
        let lenient = run(Suite::Server, &cases[1..], &ctx, false, |_| {}).await;
        assert_eq!(lenient.exit_code(), 0);
    }
}
