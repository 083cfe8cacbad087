//! Every bad input gets a typed error naming the problem; the sandbox stops runaway calls;
//! nothing leaves an instance or the host in a bad state.

mod common;

use common::{model_case, runtime};
use edgeinfer::runtime::code_name;
use edgeinfer::{DType, InferError, Runtime, RuntimeConfig, Tensor};
use std::time::Duration;

fn cnn_input() -> Tensor {
    Tensor::from_f32("input", &[1, 1, 28, 28], &[0.5; 784])
}

/// Runs `inputs` on a fresh cnn instance; returns (code, message).
fn cnn_error(inputs: &[Tensor]) -> (String, String) {
    let (_, model) = model_case("test", "cnn").packed().unwrap();
    match model.instantiate().unwrap().infer(inputs) {
        Err(InferError::Model { code, message }) => (code_name(code).to_string(), message),
        other => panic!("expected a model error, got {other:?}"),
    }
}

#[test]
fn unknown_input_name_is_not_found() {
    let mut t = cnn_input();
    t.name = "image".into();
    let (code, message) = cnn_error(&[t]);
    assert_eq!(code, "not-found");
    assert!(
        message.contains("unknown input `image`") && message.contains("input"),
        "{message}"
    );
}

#[test]
fn missing_and_duplicate_inputs() {
    let (code, message) = cnn_error(&[]);
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("invalid-argument", "missing input `input`")
    );
    let (_, message) = cnn_error(&[cnn_input(), cnn_input()]);
    assert_eq!(message, "input `input` given more than once");
}

#[test]
fn wrong_dtype() {
    let t = Tensor::new("input", DType::F64, &[1, 1, 28, 28], vec![0; 784 * 8]);
    let (code, message) = cnn_error(&[t]);
    assert_eq!(code, "invalid-argument");
    assert_eq!(
        message,
        "input `input` has dtype fp64, the model expects fp32"
    );
}

#[test]
fn wrong_shape() {
    let t = Tensor::from_f32("input", &[1, 28, 28], &[0.0; 784]);
    let (_, message) = cnn_error(&[t]);
    assert!(
        message.contains("expects [1,1,28,28] (rank 4)"),
        "{message}"
    );
    let t = Tensor::from_f32("input", &[1, 1, 28, 27], &[0.0; 756]);
    let (_, message) = cnn_error(&[t]);
    assert!(message.contains("axis 3 must be 28"), "{message}");
}

#[test]
fn wrong_byte_length() {
    let mut t = cnn_input();
    t.data.truncate(100);
    let (code, message) = cnn_error(&[t]);
    assert_eq!(code, "invalid-argument");
    assert_eq!(
        message,
        "input `input` has 100 bytes of data, its shape [1, 1, 28, 28] of fp32 needs 3136"
    );
}

#[test]
fn an_instance_keeps_serving_after_bad_input() {
    let case = model_case("test", "cnn");
    let (_, model) = case.packed().unwrap();
    let mut instance = model.instantiate().unwrap();
    assert!(instance.infer(&[]).is_err());
    let outputs = instance.infer(&case.inputs()).unwrap();
    common::compare(&outputs, &case.expected(), case.tolerance).unwrap();
}

#[test]
fn deadline_stops_a_long_inference_and_the_model_keeps_serving() {
    let case = model_case("real", "ppocr-det");
    let (_, model) = case.packed().unwrap();
    let mut instance = model.instantiate().unwrap();
    instance.set_deadline(Duration::from_millis(1)).unwrap();
    let err = instance.infer(&case.inputs()).unwrap_err();
    assert!(matches!(err, InferError::Timeout(_)), "{err:?}");
    assert!(err.to_string().contains("deadline"), "{err}");
    // The interrupted instance is retired; a fresh one answers.
    assert!(matches!(
        instance.infer(&case.inputs()),
        Err(InferError::Host(_))
    ));
    let outputs = model.instantiate().unwrap().infer(&case.inputs()).unwrap();
    common::compare(&outputs, &case.expected(), case.tolerance).unwrap();
}

/// `--deadline 0`: code compiled without epoch checks computes the same answers, bit for bit,
/// and its instances refuse a deadline they could not enforce.
#[test]
fn without_a_deadline_a_model_answers_the_same_and_refuses_one() {
    let case = model_case("real", "ppocr-cls");
    let (wasm, model) = case.packed().unwrap();
    let with_deadline = model.infer(&case.inputs()).unwrap();

    let runtime = Runtime::new(RuntimeConfig {
        deadline: None,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let unchecked = runtime
        .load_cached(&wasm, Some(&common::cache_dir()))
        .unwrap();
    let mut instance = unchecked.instantiate().unwrap();
    let outputs = instance.infer(&case.inputs()).unwrap();
    assert_eq!(outputs, with_deadline);
    common::compare(&outputs, &case.expected(), case.tolerance).unwrap();

    let refused = instance.set_deadline(Duration::from_millis(1)).unwrap_err();
    assert!(
        refused.to_string().contains("without a deadline"),
        "{refused}"
    );
    assert_eq!(instance.infer(&case.inputs()).unwrap(), with_deadline);
}

#[test]
fn memory_limit_is_reported_as_such() {
    let (_, model) = model_case("test", "mlp").packed().unwrap();
    let mut instance = model.instantiate().unwrap();
    instance.set_memory_limit(32 << 20);
    let batch = 1 << 20; // 64 MiB of input, over the 32 MiB limit
    let input = Tensor::new("x", DType::F32, &[batch, 16], vec![0; batch * 16 * 4]);
    let err = instance.infer(&[input]).unwrap_err();
    assert!(
        matches!(err, InferError::OutOfMemory { limit_mib: 32, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("32 MiB memory limit"), "{err}");
}

#[test]
fn generic_guest_without_a_model_says_so() {
    let guest = runtime().generic_guest(Some(&common::cache_dir())).unwrap();
    let err = guest.instantiate().unwrap().metadata().unwrap_err();
    assert!(
        err.to_string().contains("no model in this component"),
        "{err}"
    );
}

#[test]
fn files_that_are_not_components_are_refused() {
    let err = runtime().load_bytes(b"\x08\x07onnx garbage").err().unwrap();
    assert!(
        err.to_string().contains("not a WebAssembly component"),
        "{err}"
    );
    let core_module = b"\0asm\x01\0\0\0";
    let err = runtime().load_bytes(core_module).err().unwrap();
    assert!(err.to_string().contains("core WebAssembly module"), "{err}");
    let truncated = &edgeinfer::GENERIC_GUEST[..1000];
    assert!(runtime().load_bytes(truncated).is_err());
}

#[test]
fn corrupt_onnx_is_refused_by_pack() {
    let dir = common::root().join("target/edgeinfer-test");
    std::fs::create_dir_all(&dir).unwrap();
    let onnx = dir.join("corrupt.onnx");
    let mut bytes = std::fs::read(model_case("test", "cnn").onnx()).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&onnx, &bytes).unwrap();
    let err = edgeinfer::pack::pack(
        &runtime(),
        &onnx,
        &dir.join("corrupt.wasm"),
        &Default::default(),
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("is not an ONNX model tract can read"),
        "{err:#}"
    );
}

#[test]
fn a_corrupt_model_traps_at_load_with_the_guest_reason() {
    let guest = runtime().generic_guest(Some(&common::cache_dir())).unwrap();
    let mut payload =
        edgeinfer::pack::payload_from_onnx(&model_case("test", "cnn").onnx(), &Default::default())
            .unwrap();
    payload.nnef.truncate(payload.nnef.len() / 3);
    let err = guest
        .instantiate_unpacked(&payload)
        .err()
        .expect("a truncated model must not load");
    let message = format!("{err:#}");
    assert!(
        message.contains("edgeinfer guest: loading the NNEF model"),
        "{message}"
    );
    // The compiled guest is unharmed: the intact model loads in the next instance.
    payload.nnef =
        edgeinfer::pack::payload_from_onnx(&model_case("test", "cnn").onnx(), &Default::default())
            .unwrap()
            .nnef;
    let case = model_case("test", "cnn");
    let outputs = guest
        .instantiate_unpacked(&payload)
        .unwrap()
        .infer(&case.inputs())
        .unwrap();
    common::compare(&outputs, &case.expected(), case.tolerance).unwrap();
}

/// The CLI, each command that reads a model, given files no model is made of (and the good
/// model given hostile `.npy` inputs): a non-zero exit and an `error:` line naming the file
/// or the problem; never a panic, a signal or a hang.
#[test]
fn every_command_answers_hostile_files_with_an_error_line() {
    use std::process::{Command, Stdio};
    let dir = common::scratch("hostile-files");
    let case = model_case("test", "cnn");
    let (good, _) = case.packed().unwrap();
    let good_bytes = std::fs::read(&good).unwrap();
    let good_input = case.dir.join("inputs/input.npy");

    // A component whose model loads on the first call, with its NNEF text corrupted.
    let deferred = dir.join("deferred.wasm");
    let mut options = case.pack_options();
    options.no_preinit = true;
    edgeinfer::pack::pack(&runtime(), &case.onnx(), &deferred, &options).unwrap();
    let mut bytes = std::fs::read(&deferred).unwrap();
    let at = bytes
        .windows(11)
        .position(|w| w == b"version 1.0")
        .expect("the NNEF text in the component");
    bytes[at..at + 11].copy_from_slice(b"#!@$%^&*()_");
    std::fs::write(&deferred, bytes).unwrap();

    let mut garbage = vec![0u8; 4096];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for b in &mut garbage {
        *b = common::xorshift(&mut state) as u8;
    }
    let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
    elf.resize(4096, 0);
    let models: Vec<(&str, Vec<u8>)> = vec![
        ("empty.wasm", vec![]),
        ("garbage.wasm", garbage),
        ("text.wasm", b"a model, honestly\n".to_vec()),
        (
            "truncated.wasm",
            good_bytes[..good_bytes.len() / 2].to_vec(),
        ),
        ("core-module.wasm", b"\0asm\x01\0\0\0".to_vec()),
        ("empty-component.wasm", b"\0asm\x0d\0\x01\0".to_vec()),
        ("garbage.cwasm", elf),
        ("onnx.wasm", std::fs::read(case.onnx()).unwrap()),
    ];
    let mut paths = vec![deferred];
    for (name, bytes) in models {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        paths.push(path);
    }
    // 16 GiB of nothing (sparse): refused from its first bytes, not read into memory.
    let enormous = dir.join("enormous.wasm");
    std::fs::File::create(&enormous)
        .unwrap()
        .set_len(16 << 30)
        .unwrap();
    paths.push(enormous);

    let npy_dir = dir.join("records");
    std::fs::create_dir_all(&npy_dir).unwrap();
    std::fs::copy(&good_input, npy_dir.join("a.npy")).unwrap();
    let run = |args: &[&str]| -> (Option<i32>, String) {
        let mut child = Command::new(common::edgeinfer_bin())
            .args(args)
            .env("EDGEINFER_CACHE_DIR", common::cache_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("`edgeinfer {}` did not end", args.join(" "));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let check = |args: &[&str]| {
        let (code, stderr) = run(args);
        let what = format!("`edgeinfer {}`", args.join(" "));
        assert!(
            matches!(code, Some(1..=3)),
            "{what} ended with {code:?} (a signal?): {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what} panicked: {stderr}");
        assert!(stderr.contains("error"), "{what} said no error: {stderr}");
    };

    let cwasm = dir.join("out.cwasm");
    let out = dir.join("out");
    for path in &paths {
        let model = path.to_str().unwrap();
        let input = format!("input={}", good_input.display());
        check(&["info", model]);
        check(&["infer", model, "-i", &input]);
        check(&["fit", model]);
        if !model.ends_with("deferred.wasm") {
            // Valid WebAssembly whose model is broken compiles; the rest does not.
            check(&["precompile", model, "-o", cwasm.to_str().unwrap()]);
        }
        check(&[
            "batch",
            model,
            npy_dir.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        check(&["serve", model, "--listen", "127.0.0.1:0"]);
    }

    // The good model, hostile inputs: a .npy lying about its size, one whose shape overflows,
    // the header that hung npyz, an empty file, the wrong dtype.
    let npy = |header: &str, data: &[u8]| {
        let mut h = header.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((h.len() as u16).to_le_bytes());
        bytes.extend(h.as_bytes());
        bytes.extend(data);
        bytes
    };
    let hostile_inputs = [
        (
            "lying.npy",
            npy(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }",
                &[0; 16],
            ),
        ),
        (
            "overflow.npy",
            npy(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }",
                &[],
            ),
        ),
        ("nested.npy", npy(&"{".repeat(80), &[])),
        ("empty.npy", vec![]),
        (
            "int64.npy",
            npy(
                "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1, 28, 28), }",
                &[0; 784 * 8],
            ),
        ),
    ];
    for (name, bytes) in hostile_inputs {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        check(&[
            "infer",
            good.to_str().unwrap(),
            "-i",
            &format!("input={}", path.display()),
        ]);
        // In a batch, a bad record is that record's failure (exit 1), logged.
        let records = dir.join(format!("records-{name}"));
        std::fs::create_dir_all(&records).unwrap();
        std::fs::copy(&path, records.join(name)).unwrap();
        let out = dir.join(format!("out-{name}"));
        let (code, stderr) = run(&[
            "batch",
            good.to_str().unwrap(),
            records.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(1), "batch over {name}: {stderr}");
    }
}
