//! The subprocess example (`examples/subprocess.rs`) as a user runs it: the command's
//! output is printed line by line and its exit status becomes the example's.

mod support;

use std::process::Command;

#[test]
fn prints_output_and_exits_with_the_status() {
    let out = Command::new(support::process::example_binary("subprocess"))
        .args(["sh", "-c", "echo one; echo two; printf tail; exit 3"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\ntail");
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn a_signal_becomes_128_plus_its_number() {
    let out = Command::new(support::process::example_binary("subprocess"))
        .args(["sh", "-c", "kill -TERM $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128 + 15));
}

#[test]
fn missing_command_is_one_line_and_status_1() {
    let out = Command::new(support::process::example_binary("subprocess"))
        .arg("/nonexistent/squall-example-missing")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("squall-example-missing"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn no_command_is_a_usage_error() {
    let out = Command::new(support::process::example_binary("subprocess"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
