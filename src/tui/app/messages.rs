//! The status line's message: one at a time, each action's own.
//!
//! A message says what came of something the user did, or that something is
//! under way. An outcome stays for [`TOAST_FOR`] and a follow-up (the
//! re-advertise after `s`, after a file left the folder, after a
//! reconnection) does not replace it: the follow-up goes to the log only,
//! so the one message that mattered (`RFC 8600 is no longer shared`) is the
//! one the user reads (issue 19, item 4).

use std::time::{Duration, SystemTime};

/// How long a message stays in the status line.
pub const TOAST_FOR: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub text: String,
    pub error: bool,
    pub at: SystemTime,
    /// Something is under way: the outcome replaces it, and it does not
    /// expire before then.
    pub progress: bool,
    /// The outcome of an action of the user's: follow-ups do not replace it
    /// while it shows.
    pub outcome: bool,
}

#[derive(Debug, Default)]
pub struct Messages {
    pub toast: Option<Toast>,
}

impl Messages {
    /// A message of its own (a hint, an answer to a key).
    pub fn notify(&mut self, now: SystemTime, text: String, error: bool) {
        self.set(now, text, error, false, false);
    }

    /// Something under way, until its outcome replaces it.
    pub fn progress(&mut self, now: SystemTime, text: String) {
        self.set(now, text, false, true, false);
    }

    /// What came of an action of the user's.
    pub fn outcome(&mut self, now: SystemTime, text: String, error: bool) {
        self.set(now, text, error, false, true);
    }

    /// What came of something that followed on its own (a re-advertise):
    /// shown unless an outcome is showing. Errors are always shown.
    pub fn follow_up(&mut self, now: SystemTime, text: String, error: bool) {
        if error || !self.toast.as_ref().is_some_and(|t| t.outcome) {
            self.set(now, text, error, false, false);
        }
    }

    fn set(&mut self, now: SystemTime, text: String, error: bool, progress: bool, outcome: bool) {
        self.toast = Some(Toast { text: super::shown(text), error, at: now, progress, outcome });
    }

    pub fn in_progress(&self) -> bool {
        self.toast.as_ref().is_some_and(|t| t.progress)
    }

    pub fn dismiss(&mut self) {
        self.toast = None;
    }

    /// Drops a message whose time is up; true if one was dropped.
    pub fn on_tick(&mut self, now: SystemTime) -> bool {
        if let Some(t) = &self.toast
            && !t.progress
            && now.duration_since(t.at).is_ok_and(|d| d >= TOAST_FOR)
        {
            self.toast = None;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn a_follow_up_does_not_replace_an_outcome() {
        let t = UNIX_EPOCH;
        let mut m = Messages::default();
        m.progress(t, "Stopping sharing RFC 8600…".into());
        m.outcome(t, "RFC 8600 is no longer shared".into(), false);
        m.follow_up(t, "Advertised 1 RFC(s) to the index.".into(), false);
        assert_eq!(m.toast.as_ref().unwrap().text, "RFC 8600 is no longer shared");
        m.follow_up(t, "ADD RFC 8601 failed".into(), true);
        assert_eq!(m.toast.as_ref().unwrap().text, "ADD RFC 8601 failed", "errors always show");
        assert!(m.on_tick(t + TOAST_FOR));
        m.follow_up(t, "Advertised".into(), false);
        assert!(m.toast.is_some());
    }
}
