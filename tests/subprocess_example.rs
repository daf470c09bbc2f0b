//! The subprocess example (`examples/subprocess.rs`) as a user runs it: the command's
//! output is printed line by line and its exit status becomes the example's.

mod support;

use std::process::{Command, Output};

use support::process::{assert_one_line_failure, example_binary};

/// Runs the example with `args` (the command and its arguments) to its end.
fn subprocess(args: &[&str]) -> Output {
    Command::new(example_binary("subprocess"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn prints_output_and_exits_with_the_status() {
    let out = subprocess(&["sh", "-c", "echo one; echo two; printf tail; exit 3"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\ntail");
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn a_signal_becomes_128_plus_its_number() {
    let out = subprocess(&["sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.code(), Some(128 + 15));
}

#[test]
fn missing_command_is_one_line_and_status_1() {
    let out = subprocess(&["/nonexistent/squall-example-missing"]);
    let err = assert_one_line_failure(&out, 1, "");
    assert!(err.contains("squall-example-missing"), "{err}");
}

#[test]
fn no_command_is_a_usage_error() {
    let out = subprocess(&[]);
    assert_eq!(out.status.code(), Some(2));
}
