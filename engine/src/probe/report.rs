//! What `/readyz` and `/livez` answer for the consumers registered on one address.
//!
//! A consumer is ready when it owns at least one partition, as in the reference design: one
//! that has not joined its group yet, or that sits idle in a group with more members than
//! partitions, reports not ready. The address is ready when every registered consumer is ready,
//! and live when none has stalled. Every body names each consumer by its group and a number
//! unique in the process, and says which of them (and which loop or partition) is at fault.

use crate::probe::http::{Response, Route};

/// One registered consumer at the moment of a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// Unique in the process; tells apart two consumers of one group.
    pub(crate) id: u64,
    pub(crate) group: String,
    pub(crate) partitions: usize,
    /// One line per stalled loop or partition.
    pub(crate) stalls: Vec<String>,
    /// Why no broker answers it, if none does.
    pub(crate) broker_error: Option<String>,
}

impl Member {
    fn name(&self) -> String {
        format!("consumer {} (group {})", self.id, self.group)
    }
}

/// The answer to `route` for these members.
pub(crate) fn answer(route: Route, members: &[Member]) -> Response {
    match route {
        Route::Ready => readiness(members),
        Route::Live => liveness(members),
    }
}

fn readiness(members: &[Member]) -> Response {
    if members.is_empty() {
        return Response::new(503, "not ready: no consumer is subscribed\n");
    }
    let total: usize = members.iter().map(|m| m.partitions).sum();
    // A consumer that reaches no broker is not ready even if it still holds partitions: it
    // can neither fetch nor commit.
    let cut_off: Vec<String> = members
        .iter()
        .filter(|m| m.broker_error.is_some())
        .map(Member::name)
        .collect();
    let waiting: Vec<String> = members
        .iter()
        .filter(|m| m.partitions == 0 && m.broker_error.is_none())
        .map(Member::name)
        .collect();
    let mut body = String::new();
    if !cut_off.is_empty() {
        body.push_str(&format!(
            "not ready: no kafka broker reachable by {}\n",
            cut_off.join(", ")
        ));
    }
    if !waiting.is_empty() {
        body.push_str(&format!(
            "not ready: no partitions assigned to {}\n",
            waiting.join(", ")
        ));
    }
    let ready = body.is_empty();
    if ready {
        body = format!("ready: {total} partitions assigned\n");
    }
    for member in members {
        body.push_str(&format!(
            "{}: {} partitions\n",
            member.name(),
            member.partitions
        ));
        if let Some(error) = &member.broker_error {
            body.push_str(&format!("{}: {error}\n", member.name()));
        }
    }
    Response::new(if ready { 200 } else { 503 }, body)
}

fn liveness(members: &[Member]) -> Response {
    let stalled: Vec<String> = members
        .iter()
        .flat_map(|m| {
            m.stalls
                .iter()
                .map(move |stall| format!("{}: {stall}", m.name()))
        })
        .collect();
    if stalled.is_empty() {
        let names: Vec<String> = members.iter().map(Member::name).collect();
        let body = if names.is_empty() {
            "live\n".to_owned()
        } else {
            format!("live: {}\n", names.join(", "))
        };
        return Response::new(200, body);
    }
    Response::new(503, format!("stalled:\n{}\n", stalled.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, group: &str, partitions: usize, stalls: &[&str]) -> Member {
        Member {
            id,
            group: group.to_owned(),
            partitions,
            stalls: stalls.iter().map(|s| (*s).to_owned()).collect(),
            broker_error: None,
        }
    }

    #[test]
    fn not_ready_names_a_consumer_that_reaches_no_broker_and_why() {
        let mut cut_off = member(2, "audit", 1, &[]);
        cut_off.broker_error =
            Some("no kafka broker reachable for 20s at 127.0.0.1:1 (down)".into());
        let members = [member(1, "billing", 3, &[]), cut_off];
        let response = answer(Route::Ready, &members);
        assert_eq!(response.status, 503);
        assert_eq!(
            response.body,
            "not ready: no kafka broker reachable by consumer 2 (group audit)\n\
             consumer 1 (group billing): 3 partitions\n\
             consumer 2 (group audit): 1 partitions\n\
             consumer 2 (group audit): no kafka broker reachable for 20s at 127.0.0.1:1 (down)\n"
        );
    }

    #[test]
    fn ready_when_every_consumer_owns_a_partition_with_the_total_count() {
        let members = [member(1, "billing", 3, &[]), member(2, "audit", 1, &[])];
        let response = answer(Route::Ready, &members);
        assert_eq!(response.status, 200);
        assert_eq!(
            response.body,
            "ready: 4 partitions assigned\nconsumer 1 (group billing): 3 partitions\nconsumer 2 (group audit): 1 partitions\n"
        );
    }

    #[test]
    fn not_ready_names_the_consumers_without_partitions() {
        let members = [member(1, "billing", 3, &[]), member(2, "audit", 0, &[])];
        let response = answer(Route::Ready, &members);
        assert_eq!(response.status, 503);
        assert!(
            response
                .body
                .starts_with("not ready: no partitions assigned to consumer 2 (group audit)\n"),
            "{}",
            response.body
        );
        assert_eq!(answer(Route::Ready, &[]).status, 503);
    }

    #[test]
    fn not_live_when_any_consumer_stalled_naming_what_stalled() {
        let members = [
            member(1, "billing", 2, &[]),
            member(
                2,
                "audit",
                2,
                &["partition audit-log/1: no progress for 2s"],
            ),
        ];
        let response = answer(Route::Live, &members);
        assert_eq!(response.status, 503);
        assert_eq!(
            response.body,
            "stalled:\nconsumer 2 (group audit): partition audit-log/1: no progress for 2s\n"
        );
        let live = answer(Route::Live, &members[..1]);
        assert_eq!(
            (live.status, live.body.as_str()),
            (200, "live: consumer 1 (group billing)\n")
        );
    }
}
