//! Timed steps and the closing summary, so CI logs show where time went.

use std::time::{Duration, Instant};

use crate::error::Result;

enum Outcome {
    Ok,
    Failed,
    Skipped(String),
}

#[derive(Default)]
pub struct Report {
    rows: Vec<(String, Duration, Outcome)>,
}

impl Report {
    /// Runs `f`, recording its duration and whether it succeeded.
    pub fn time<T>(&mut self, label: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let result = f();
        let outcome = if result.is_ok() { Outcome::Ok } else { Outcome::Failed };
        self.rows.push((label.to_string(), started.elapsed(), outcome));
        result
    }

    pub fn skipped(&mut self, label: &str, why: &str) {
        self.rows.push((label.to_string(), Duration::ZERO, Outcome::Skipped(why.to_string())));
    }

    pub fn failed(&self) -> bool {
        self.rows.iter().any(|(_, _, outcome)| matches!(outcome, Outcome::Failed))
    }

    pub fn print(&self, title: &str) {
        let width = self.rows.iter().map(|(label, _, _)| label.len()).max().unwrap_or(0);
        let total: Duration = self.rows.iter().map(|(_, took, _)| *took).sum();
        println!("\n{title}:");
        for (label, took, outcome) in &self.rows {
            let verdict = match outcome {
                Outcome::Ok => "ok".to_string(),
                Outcome::Failed => "FAILED".to_string(),
                Outcome::Skipped(why) => format!("skipped ({why})"),
            };
            println!("  {label:<width$}  {:>7.1} s  {verdict}", took.as_secs_f64());
        }
        println!("  {:<width$}  {:>7.1} s", "total", total.as_secs_f64());
    }
}
