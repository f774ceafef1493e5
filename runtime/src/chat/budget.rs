//! A memory budget for one render of a chat template. minijinja's fuel counts instructions,
//! not bytes: `{% set ns.s = ns.s ~ ns.s %}` in a 64-pass loop is 66 instructions and a
//! 2^65-byte string. So the compiled template is rewritten before it runs: every operation that
//! makes a value (`~`, `+`, `*`, filters, calls) is followed by a call to [`CHARGE`], which
//! adds the size of what it made to a per-render count and fails past the budget; raw text is
//! emitted through the formatter, which charges every byte written. A doubling string thus
//! stops at about twice the budget instead of exhausting the machine.

use minijinja::machinery::{Instruction, Instructions};
use minijinja::value::{ArgType, Kwargs, StringInput, Value};
use minijinja::{Error, ErrorKind, Output, State};
use std::cell::Cell;

/// The function the rewritten instructions call after each value-making operation.
pub(super) const CHARGE: &str = "__edge_charge_render_budget";

/// Bytes any render may make, whatever its input.
pub(super) const BASE_BUDGET: u64 = 64 << 20;

/// Bytes a render may make per byte of its input (the template, the messages and the special
/// tokens): real templates copy each message a few times (concatenations, `trim`, the output).
pub(super) const BUDGET_PER_INPUT_BYTE: u64 = 16;

/// A sequence or map is charged this much per item (a minijinja value's size).
const BYTES_PER_ITEM: u64 = 16;

/// The widest `indent` a template may ask for (real templates indent by 2 or 4).
const MAX_INDENT: usize = 4096;

#[derive(Clone, Copy)]
struct Budget {
    limit: u64,
    used: u64,
}

thread_local! {
    /// The budget of the render running on this thread (rendering is synchronous).
    static BUDGET: Cell<Option<Budget>> = const { Cell::new(None) };
}

/// The budget of a render whose template, messages and special tokens hold `input_bytes`.
pub(super) fn budget_for(input_bytes: usize) -> u64 {
    (input_bytes as u64)
        .saturating_mul(BUDGET_PER_INPUT_BYTE)
        .saturating_add(BASE_BUDGET)
}

/// Arms a budget of `limit` bytes on this thread until dropped (restoring the one before).
pub(super) struct Armed(Option<Budget>);

impl Armed {
    pub(super) fn new(limit: u64) -> Armed {
        Armed(BUDGET.replace(Some(Budget { limit, used: 0 })))
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        BUDGET.set(self.0);
    }
}

/// Adds `bytes` made to this thread's budget; an error once the total passes it.
fn charge(bytes: u64) -> Result<(), Error> {
    let Some(mut budget) = BUDGET.get() else {
        return Ok(());
    };
    budget.used = budget.used.saturating_add(bytes);
    BUDGET.set(Some(budget));
    if budget.used > budget.limit {
        return Err(over_budget(budget.limit));
    }
    Ok(())
}

fn over_budget(limit: u64) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "rendering made more than {limit} bytes of text (the limit: {} MiB plus \
             {BUDGET_PER_INPUT_BYTE} per byte of template and messages); a loop that doubles \
             a string?",
            BASE_BUDGET >> 20
        ),
    )
}

/// [`CHARGE`]: charges the size of a value just made and passes it on. A string is charged its
/// bytes; a sequence or map its items' slots (its items were charged when made), and it may
/// not hold more than the budget's worth of them (`l + l` in a loop).
pub(super) fn charge_made(value: Value) -> Result<Value, Error> {
    if let Some(s) = value.as_str() {
        charge(s.len() as u64)?;
    } else if let Some(b) = value.as_bytes() {
        charge(b.len() as u64)?;
    } else if let Some(n) = value.len() {
        let slots = (n as u64).saturating_mul(BYTES_PER_ITEM);
        if let Some(budget) = BUDGET.get() {
            if slots > budget.limit {
                return Err(over_budget(budget.limit));
            }
        }
        charge(BYTES_PER_ITEM)?;
    }
    Ok(value)
}

/// The formatter: charges what `{{ ... }}` writes, then writes it as minijinja would.
pub(super) fn charged_formatter(
    out: &mut Output,
    state: &State,
    value: &Value,
) -> Result<(), Error> {
    let bytes = match value.as_str() {
        Some(s) => s.len(),
        None => value.to_string().len(),
    };
    charge(bytes as u64)?;
    minijinja::escape_formatter(out, state, value)
}

/// `indent` with its width bounded: minijinja builds the indentation with `repeat(width)`
/// before anything could charge it.
pub(super) fn bounded_indent(
    value: Value,
    width: Option<usize>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let asked = match width {
        Some(w) => Some(w),
        None => kwargs.peek::<Option<usize>>("width")?,
    };
    if let Some(w) = asked.filter(|&w| w > MAX_INDENT) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("indent width {w} is over {MAX_INDENT}"),
        ));
    }
    let input = <StringInput as ArgType>::from_value(Some(&value))?;
    minijinja::filters::indent(input, width, first, blank, kwargs)
}

/// `instructions` with a [`CHARGE`] call after every value-making operation and raw text
/// emitted through the formatter; jump targets are moved with the instructions they name.
pub(super) fn charged<'s>(instructions: &Instructions<'s>, name: &'s str) -> Instructions<'s> {
    let n = instructions.len();
    // new_at[i]: where old instruction i (or what replaces it) starts; new_at[n]: the end.
    let mut new_at = Vec::with_capacity(n + 1);
    let mut rewritten: Vec<(Instruction<'s>, u32)> = Vec::with_capacity(n + n / 2);
    for i in 0..n as u32 {
        new_at.push(rewritten.len() as u32);
        let Some(instr) = instructions.get(i) else {
            break;
        };
        match instr {
            Instruction::EmitRaw(text) => {
                rewritten.push((Instruction::LoadConst(Value::from(*text)), i));
                rewritten.push((Instruction::Emit, i));
            }
            Instruction::Add
            | Instruction::Mul
            | Instruction::StringConcat
            | Instruction::ApplyFilter(..)
            | Instruction::CallMethod(..)
            | Instruction::CallFunction(..)
            | Instruction::CallObject(..) => {
                rewritten.push((instr.clone(), i));
                rewritten.push((Instruction::CallFunction(CHARGE, Some(1)), i));
            }
            other => rewritten.push((other.clone(), i)),
        }
    }
    new_at.push(rewritten.len() as u32);
    let moved = |target: &u32| new_at.get(*target as usize).copied().unwrap_or(*target);
    let mut out = Instructions::new(name, instructions.source());
    for (mut instr, old) in rewritten {
        match &mut instr {
            Instruction::Jump(t)
            | Instruction::JumpIfFalse(t)
            | Instruction::JumpIfFalseOrPop(t)
            | Instruction::JumpIfTrueOrPop(t)
            | Instruction::Iterate(t)
            | Instruction::BuildMacro(_, t, _) => *t = moved(t),
            _ => {}
        }
        if let Some(span) = instructions.get_span(old) {
            out.add_with_span(instr, span);
        } else if let Some(line) = instructions.get_line(old) {
            out.add_with_line(instr, u16::try_from(line).unwrap_or(u16::MAX));
        } else {
            out.add(instr);
        }
    }
    out
}
