//! Per-operator times of one inference, as a guest built with the engine's `op-profile` feature
//! writes them to stderr after each call, and as `edgeinfer bench --op-profile` reads them.
//!
//! One line per operator kind (tract's op name: `OptMatMul`, `DepthWise`, ...), then an end
//! line, so a reader can tell one call's block from the next:
//!
//! ```text
//! edgeinfer-op-time<TAB>OptMatMul<TAB>1234567<TAB>12
//! edgeinfer-op-time-end
//! ```

const LINE: &str = "edgeinfer-op-time";
const END: &str = "edgeinfer-op-time-end";

/// The time one inference spent in the nodes of one operator kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpTime {
    /// tract's name of the operator (`op.name()`).
    pub op: String,
    pub nanos: u64,
    /// How many nodes of this kind ran.
    pub nodes: u32,
}

/// Adds one node's time to its operator kind's total.
pub fn record(times: &mut Vec<OpTime>, op: &str, nanos: u64) {
    match times.iter_mut().find(|t| t.op == op) {
        Some(t) => {
            t.nanos += nanos;
            t.nodes += 1;
        }
        None => times.push(OpTime {
            op: op.to_string(),
            nanos,
            nodes: 1,
        }),
    }
}

/// The lines for one call's times, end line included.
pub fn format(times: &[OpTime]) -> String {
    let mut text = String::new();
    for t in times {
        // A tab or newline in an op name would break the line; tract's names have none.
        let op = t.op.replace(['\t', '\n'], " ");
        text.push_str(&std::format!("{LINE}\t{op}\t{}\t{}\n", t.nanos, t.nodes));
    }
    text.push_str(END);
    text.push('\n');
    text
}

/// Every complete call's block in `text` (other lines, such as warnings, are skipped).
pub fn parse(text: &str) -> Vec<Vec<OpTime>> {
    let mut calls = Vec::new();
    let mut current = Vec::new();
    for line in text.lines() {
        if line == END {
            calls.push(std::mem::take(&mut current));
            continue;
        }
        let mut fields = line.split('\t');
        if fields.next() != Some(LINE) {
            continue;
        }
        let (Some(op), Some(nanos), Some(nodes), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if let (Ok(nanos), Ok(nodes)) = (nanos.parse(), nodes.parse()) {
            current.push(OpTime {
                op: op.to_string(),
                nanos,
                nodes,
            });
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_other_lines_are_skipped() {
        let a = vec![
            OpTime {
                op: "OptMatMul".into(),
                nanos: 1_500_000,
                nodes: 12,
            },
            OpTime {
                op: "Add".into(),
                nanos: 20,
                nodes: 1,
            },
        ];
        let b = vec![OpTime {
            op: "DepthWise".into(),
            nanos: 7,
            nodes: 3,
        }];
        let text = std::format!("warning: something\n{}{}", format(&a), format(&b));
        assert_eq!(parse(&text), vec![a, b]);
        // A block cut short (no end line) is not a call.
        assert_eq!(
            parse("edgeinfer-op-time\tAdd\t1\t1\n"),
            Vec::<Vec<OpTime>>::new()
        );
    }
}
