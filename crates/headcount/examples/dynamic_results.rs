//! Pattern 3, "dynamic work": tasks send results on a channel that is closed after
//! `wait`, while the caller consumes them as they arrive; and Go's `parallelProcess` idiom,
//! which returns the receiving end at once.
//!
//! In Rust the channel closes when its last `Sender` is dropped, so "close after `wg.Wait()`"
//! is "drop the sender after `wait`". Then the ordered alternative: a `ResultGroup` returns
//! the results in the order the items were submitted, without a channel.
//!
//! Run with `cargo run -p headcount --example dynamic_results`.

use std::sync::mpsc::{self, Receiver};

use headcount::{Group, ResultGroup};

#[derive(Debug, Clone, Copy, PartialEq)]
struct Item(u32);

#[derive(Debug, Clone, Copy, PartialEq)]
struct Outcome {
    item: u32,
    square: u64,
}

fn process_item(item: Item) -> Outcome {
    Outcome {
        item: item.0,
        square: u64::from(item.0) * u64::from(item.0),
    }
}

/// Go's `parallelProcess`: starts the work and returns the results channel at once; it is
/// closed when every item has been processed.
fn parallel_process(items: Vec<Item>) -> Receiver<Outcome> {
    let (results, outcomes) = mpsc::channel();
    std::thread::spawn(move || {
        let group = Group::new().limit(16);
        for item in items {
            let results = results.clone();
            group.spawn(move || results.send(process_item(item)).unwrap());
        }
        group.wait(); // wg.Wait()
        drop(results); // close(results)
    });
    outcomes
}

fn main() {
    let items: Vec<Item> = (1..=500).map(Item).collect();
    let expected: u64 = items.iter().map(|&i| process_item(i).square).sum();

    // Pattern 3: spawn, close after wait (in a helper), consume as the results arrive.
    let (results, outcomes) = mpsc::channel();
    let group = Group::new().limit(16);
    for &item in &items {
        let results = results.clone();
        group.spawn(move || results.send(process_item(item)).unwrap());
    }
    let closer = std::thread::spawn(move || {
        group.wait();
        drop(results);
    });
    let mut handled = 0;
    let mut sum = 0;
    for outcome in outcomes {
        // handleResult: ends when the channel is closed
        handled += 1;
        sum += outcome.square;
    }
    closer.join().unwrap();
    assert_eq!(handled, items.len());
    assert_eq!(sum, expected);
    println!("channel closed after wait: handled {handled} results as they arrived");

    // parallelProcess: the caller gets a receiver and ranges over it.
    let received: Vec<Outcome> = parallel_process(items.clone()).into_iter().collect();
    assert_eq!(received.len(), items.len());
    assert_eq!(received.iter().map(|o| o.square).sum::<u64>(), expected);
    println!(
        "parallel_process: {} results, channel closed by the producer",
        received.len()
    );

    // Ordered results without a channel.
    let group = ResultGroup::new().limit(16);
    for &item in &items {
        group.spawn(move || process_item(item));
    }
    let ordered = group.wait();
    assert!(
        ordered.iter().zip(&items).all(|(o, i)| o.item == i.0),
        "results out of order"
    );
    println!("ResultGroup: {} results in submission order", ordered.len());
}
