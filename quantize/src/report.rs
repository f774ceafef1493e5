//! What `quantize` tells the user on stderr: a progress bar (on a terminal), a table with one
//! line per tensor and a summary.

use crate::plan::Plan;
use crate::write::TensorReport;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

pub struct Progress {
    verbose: bool,
    bar: Option<ProgressBar>,
    elements: u64,
    output_tensor_bytes: u64,
}

/// Moves the bar by `elements`.
pub fn advance(bar: &Option<ProgressBar>, elements: u64) {
    if let Some(bar) = bar {
        bar.inc(elements);
    }
}

impl Progress {
    /// Prints the table header when verbose; shows a bar when stderr is a terminal too.
    pub fn new(verbose: bool, plan: &Plan) -> Self {
        let elements: u64 = plan
            .tensors
            .iter()
            .map(|t| t.dims.n_elements().unwrap_or(0))
            .sum();
        let bar = (verbose && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(elements);
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {percent:>3}% {elapsed_precise} eta {eta}")
            {
                bar.set_style(style);
            }
            bar
        });
        let p = Progress {
            verbose,
            bar,
            elements,
            output_tensor_bytes: 0,
        };
        if verbose {
            p.line(format!(
                "{:<36} {:>18} {:<5} {:>10} {:>12}",
                "tensor", "dims", "type", "rel. rms", "bytes"
            ));
        }
        p
    }

    fn line(&self, s: String) {
        match &self.bar {
            Some(bar) => bar.println(s),
            None => eprintln!("{s}"),
        }
    }

    /// A handle on the bar (cheap clone) for the per-chunk callback.
    pub fn bar(&self) -> Option<ProgressBar> {
        self.bar.clone()
    }

    pub fn tensor_done(&mut self, t: &TensorReport) {
        self.output_tensor_bytes += t.bytes;
        if self.verbose {
            let dims = t
                .dims
                .0
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" x ");
            self.line(format!(
                "{:<36} {:>18} {:<5} {:>10.6} {:>12}",
                t.name, dims, t.ty, t.relative_rms_error, t.bytes
            ));
        }
    }

    pub fn finish(self, input_bytes: u64, written: &Path, elapsed: Duration) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if !self.verbose {
            return;
        }
        let output_bytes = std::fs::metadata(written).map(|m| m.len()).unwrap_or(0);
        let bpw = if self.elements == 0 {
            0.0
        } else {
            self.output_tensor_bytes as f64 * 8.0 / self.elements as f64
        };
        let mb = |b: u64| b as f64 / 1e6;
        eprintln!(
            "{}: input {:.1} MB, output {:.1} MB, {:.2} bits per weight, {:.1} s",
            written.display(),
            mb(input_bytes),
            mb(output_bytes),
            bpw,
            elapsed.as_secs_f64()
        );
    }
}
