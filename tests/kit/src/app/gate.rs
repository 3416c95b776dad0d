//! Which apps may run side by side in the one test process.
//!
//! The server keeps its configured body limit in a process-wide value (`edge::BODY_LIMIT`,
//! read for the 413 message), so an app started with another limit changes it for every app
//! in the process. An app with its own body limit therefore runs alone: it waits until no
//! other app lives, and apps started meanwhile wait for it. A test that already holds an app
//! never waits for a second one (no deadlock); starting an app alone while holding one panics.

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

struct State {
    shared: usize,
    alone: bool,
    waiting: usize,
    /// The threads (tests) holding a shared guard, once per guard.
    holders: Vec<ThreadId>,
}

static STATE: Mutex<State> = Mutex::new(State { shared: 0, alone: false, waiting: 0, holders: Vec::new() });

/// Held by a [`super::TestApp`] for its life (and across its restarts).
#[derive(Clone)]
pub struct Guard {
    _held: Arc<Held>,
}

impl Guard {
    /// The same admission for the restarted app.
    pub fn again(&self) -> Guard {
        self.clone()
    }
}

enum Held {
    Shared(ThreadId),
    Alone,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
        match self {
            Held::Shared(thread) => {
                state.shared -= 1;
                if let Some(i) = state.holders.iter().position(|t| t == thread) {
                    state.holders.swap_remove(i);
                }
            }
            Held::Alone => state.alone = false,
        }
    }
}

const POLL: Duration = Duration::from_millis(5);

/// Admission beside other apps (waits while an app runs alone, or waits to).
pub async fn shared() -> Guard {
    let thread = std::thread::current().id();
    loop {
        {
            let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
            let holds_one = state.holders.contains(&thread);
            if !state.alone && (state.waiting == 0 || holds_one) {
                state.shared += 1;
                state.holders.push(thread);
                return Guard { _held: Arc::new(Held::Shared(thread)) };
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Admission alone: waits until no other app lives.
pub async fn alone() -> Guard {
    let thread = std::thread::current().id();
    let mut queued = false;
    loop {
        {
            let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
            assert!(!state.holders.contains(&thread), "an app with its own body limit must be the test's only app");
            if !state.alone && state.shared == 0 {
                if queued {
                    state.waiting -= 1;
                }
                state.alone = true;
                return Guard { _held: Arc::new(Held::Alone) };
            }
            if !queued {
                state.waiting += 1;
                queued = true;
            }
        }
        tokio::time::sleep(POLL).await;
    }
}
