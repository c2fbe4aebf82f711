//! Exercise 2: call `done` more times than `add`, observe the panic, and the `try_add` error.
//!
//! Go panics with `sync: negative WaitGroup counter` and the WaitGroup is left corrupted.
//! headcount panics with the same words but leaves the counter unchanged, so the group is still
//! usable after the panic is caught; `try_add` reports the same mistake as an error value.
//!
//! Run with `cargo run -p headcount --example negative_counter`.

use std::panic::{self, AssertUnwindSafe};

use headcount::{AddError, WaitGroup};

fn main() {
    let wg = WaitGroup::new();
    wg.add(1);
    wg.done();

    // The extra `done`. Keep the default panic hook quiet for this one expected panic; print
    // the message ourselves.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| wg.done()));
    panic::set_hook(hook);

    let payload = caught.expect_err("a second done must panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("a panic message");
    println!("panic: {message}");
    assert!(
        message.contains("negative WaitGroup counter"),
        "unexpected message: {message}"
    );
    assert_eq!(wg.count(), 0, "the counter is left unchanged");

    // The same mistake without a panic.
    let err = wg.try_add(-1).expect_err("below zero");
    println!("try_add(-1): {err}");
    assert_eq!(
        err,
        AddError::Negative {
            count: 0,
            delta: -1
        }
    );
    assert_eq!(wg.count(), 0);

    // The group is still usable: a whole new round works.
    wg.add(2);
    wg.done();
    wg.done();
    wg.wait();
    println!(
        "the group still works after the caught panic: count = {}",
        wg.count()
    );
}
