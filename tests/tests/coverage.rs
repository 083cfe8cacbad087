//! The real-model coverage corpus, as far as it is fetched (`scripts/test.sh` fetches the `ci`
//! subset; `scripts/coverage.sh` runs everything and writes COVERAGE.md): every model listed
//! in tests/coverage/expected.txt packs with the flags of tests/coverage/flags.txt, matches
//! onnxruntime within its tolerance, and packs to about the guest plus its weights (twice with
//! a specialized plan); every other
//! model fails cleanly, with a one-line reason.

use edgeinfer_tests::coverage::{Case, Expectations, Runner, Status, index, root, size_goal};

/// Room for what every plan needs besides its weights (tract's plan and symbol tables, the
/// data segments' own encoding): the size goal is guest + 1.3 x the model, plus this.
const PLAN_ALLOWANCE: u64 = 512 << 10;

#[test]
fn the_corpus_packs_and_matches_onnxruntime() {
    let expectations = Expectations::load().unwrap();
    let runner = Runner::new(root().join("target").join("coverage-test")).unwrap();
    let mut ran = 0;
    let mut problems = vec![];
    for entry in index().unwrap() {
        let Some(case) = Case::load(&entry).unwrap() else {
            assert!(
                entry.subset != "ci",
                "{} is in the ci subset but not fetched: run `models/corpus/fetch --subset ci`",
                entry.name
            );
            continue;
        };
        let flags = expectations
            .flags
            .get(&case.name)
            .cloned()
            .unwrap_or_default();
        let outcome = runner.run(&case, &flags).unwrap();
        ran += 1;
        println!("{}: {:?}", case.name, outcome.status);
        let must_pass = expectations.must_pass.contains(&case.name);
        match &outcome.status {
            Status::Pass => {
                let packed = outcome.packed_bytes.unwrap();
                let budget = size_goal(&case, outcome.specialized.is_some()) + PLAN_ALLOWANCE;
                if packed > budget && !expectations.size_exceptions.contains_key(&case.name) {
                    problems.push(format!(
                        "{}: packed to {packed} bytes, over guest + 1.3 x the model + {} KiB = \
                         {budget} (a known miss goes in tests/coverage/size-exceptions.txt)",
                        case.name,
                        PLAN_ALLOWANCE >> 10
                    ));
                }
            }
            failure if must_pass => problems.push(format!("{}: {failure:?}", case.name)),
            Status::PackFailed(why) | Status::InferFailed(why) | Status::Mismatch(why) => {
                // A failure is a reason a user can act on: one line, no panic.
                assert!(!why.contains("panicked") && !why.contains('\n'), "{why}");
            }
        }
    }
    assert!(
        ran > 0,
        "no corpus model is fetched: run `models/corpus/fetch --subset ci`"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
