//! Re-cuts the data segments of a Wizer snapshot. Wizer emits at most 10,000 segments and,
//! past that, merges the closest ones zeros and all; a pre-initialized tract plan is tens of
//! thousands of small live blocks between freed (zeroed) ones, so half a detector's snapshot
//! could be zeros. This keeps only the non-zero bytes (zero runs of a dozen bytes and more
//! are left out), merging the closest runs only past [`MAX_SEGMENTS`].

use anyhow::{Context, Result, bail};
use wasm_encoder::{ConstExpr, DataSection, Encode};
use wasmparser::{DataKind, DataSectionReader, Operator};

/// Segments per module we emit at most. Engines accept 100,000 (V8, wasmparser), but wasmtime
/// keeps a pointer and a length per segment in each instance (12 bytes each, set up at every
/// instantiation, and within its 1 MiB instance-size cap): 20,000 costs ~240 KB there.
const MAX_SEGMENTS: usize = 20_000;
/// A zero run shorter than this stays inside its segment: a new segment costs about as much
/// (memory index, `i32.const` offset, `end`, length).
const MIN_GAP: usize = 12;

/// The component with each core module's active data re-cut. Passive segments keep their
/// place at the front (Wizer leaves the guest's original segments there, emptied, so the
/// indices code may use stay valid); a module laid out otherwise is left as it is.
pub(crate) fn resegment(component: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(component.len());
    let body = walk_sections(component, &mut out, |id, section, out| {
        // Section 1 of a component: a core module.
        if id == 1 {
            let module = resegment_module(section)?;
            out.push(1);
            module.len().encode(out);
            out.extend_from_slice(&module);
            return Ok(true);
        }
        Ok(false)
    })?;
    debug_assert!(body);
    Ok(out)
}

/// Copies the 8-byte header and every section of a wasm binary to `out`, letting `rewrite`
/// emit a section itself (returning true) instead. Returns true when the walk completed.
fn walk_sections(
    wasm: &[u8],
    out: &mut Vec<u8>,
    mut rewrite: impl FnMut(u8, &[u8], &mut Vec<u8>) -> Result<bool>,
) -> Result<bool> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        bail!("not a WebAssembly binary");
    }
    out.extend_from_slice(&wasm[..8]);
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        let (size, leb) = read_leb(&wasm[at + 1..]).context("a section size")?;
        let start = at + 1 + leb;
        let end = start
            .checked_add(size)
            .filter(|&e| e <= wasm.len())
            .context("a section runs past the end")?;
        if !rewrite(id, &wasm[start..end], out)? {
            out.extend_from_slice(&wasm[at..end]);
        }
        at = end;
    }
    Ok(true)
}

fn read_leb(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, &b) in bytes.iter().enumerate().take(5) {
        value |= ((b & 0x7f) as usize) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// One run of bytes at an offset of memory 0.
struct Run {
    offset: u64,
    bytes: Vec<u8>,
}

/// A data section split into what stays (the leading passive segments) and what is re-cut.
struct Segments {
    passive: Vec<Vec<u8>>,
    runs: Vec<Run>,
}

/// A core module (the Fastly target) with its active data re-cut.
pub(crate) fn resegment_core_module(module: &[u8]) -> Result<Vec<u8>> {
    resegment_module(module)
}

fn resegment_module(module: &[u8]) -> Result<Vec<u8>> {
    // The data section, if it can be re-cut.
    let mut segments = None;
    walk_sections(module, &mut Vec::new(), |id, section, _| {
        if id == 11 {
            segments = read_segments(section)?;
        }
        Ok(false)
    })?;
    let Some(Segments { passive, runs }) = segments else {
        return Ok(module.to_vec());
    };
    let runs = merge_closest(runs, MAX_SEGMENTS);
    let mut data = DataSection::new();
    for bytes in &passive {
        data.passive(bytes.iter().copied());
    }
    for run in &runs {
        data.active(
            0,
            &ConstExpr::i32_const(run.offset as i32),
            run.bytes.iter().copied(),
        );
    }
    let count = (passive.len() + runs.len()) as u32;

    let mut out = Vec::with_capacity(module.len());
    walk_sections(module, &mut out, |id, _, out| match id {
        11 => {
            out.push(11);
            data.encode(out);
            Ok(true)
        }
        // The data count section, when present, must say how many there are now.
        12 => {
            out.push(12);
            let mut body = Vec::new();
            count.encode(&mut body);
            body.len().encode(out);
            out.extend_from_slice(&body);
            Ok(true)
        }
        _ => Ok(false),
    })?;
    Ok(out)
}

/// The leading passive segments, and the non-zero runs of the active segments of memory 0 in
/// offset order; `None` when a passive segment follows an active one, or an active segment
/// is on another memory or placed by anything but a constant.
fn read_segments(section: &[u8]) -> Result<Option<Segments>> {
    let reader = DataSectionReader::new(wasmparser::BinaryReader::new(section, 0))?;
    let mut passive = vec![];
    let mut runs = vec![];
    for segment in reader {
        let segment = segment?;
        let offset_expr = match segment.kind {
            DataKind::Passive if runs.is_empty() => {
                passive.push(segment.data.to_vec());
                continue;
            }
            DataKind::Active {
                memory_index: 0,
                offset_expr,
            } => offset_expr,
            _ => return Ok(None),
        };
        let mut ops = offset_expr.get_operators_reader();
        let Operator::I32Const { value } = ops.read()? else {
            return Ok(None);
        };
        split_at_zeros(value as u32 as u64, segment.data, &mut runs);
    }
    runs.sort_by_key(|r| r.offset);
    Ok(Some(Segments { passive, runs }))
}

/// Appends the non-zero stretches of `data` (zero runs shorter than [`MIN_GAP`] kept inside).
fn split_at_zeros(offset: u64, data: &[u8], runs: &mut Vec<Run>) {
    let mut i = 0;
    while i < data.len() {
        // Start of the next non-zero byte.
        let Some(start) = data[i..].iter().position(|&b| b != 0).map(|p| i + p) else {
            return;
        };
        // Extend until a zero run of MIN_GAP bytes (or the end).
        let mut end = start;
        let mut zeros = 0;
        for (j, &b) in data.iter().enumerate().skip(start) {
            if b == 0 {
                zeros += 1;
                if zeros == MIN_GAP {
                    break;
                }
            } else {
                zeros = 0;
                end = j + 1;
            }
        }
        runs.push(Run {
            offset: offset + start as u64,
            bytes: data[start..end].to_vec(),
        });
        i = end + zeros;
    }
}

/// Merges the runs separated by the smallest gaps until at most `max` remain.
fn merge_closest(runs: Vec<Run>, max: usize) -> Vec<Run> {
    if runs.len() <= max {
        return runs;
    }
    let gaps: Vec<u64> = runs
        .windows(2)
        .map(|w| w[1].offset - (w[0].offset + w[0].bytes.len() as u64))
        .collect();
    // Merge across the (len - max) smallest gaps.
    let mut order: Vec<usize> = (0..gaps.len()).collect();
    order.sort_by_key(|&i| (gaps[i], i));
    let mut merge_after = vec![false; runs.len()];
    for &i in &order[..runs.len() - max] {
        merge_after[i] = true;
    }
    let mut merged: Vec<Run> = Vec::with_capacity(max);
    for (i, run) in runs.into_iter().enumerate() {
        match merged.last_mut() {
            Some(last) if i > 0 && merge_after[i - 1] => {
                let gap = (run.offset - (last.offset + last.bytes.len() as u64)) as usize;
                last.bytes.extend(std::iter::repeat_n(0, gap));
                last.bytes.extend_from_slice(&run.bytes);
            }
            _ => merged.push(run),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs_of(data: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut runs = vec![];
        split_at_zeros(100, data, &mut runs);
        runs.into_iter().map(|r| (r.offset, r.bytes)).collect()
    }

    #[test]
    fn splits_at_long_zero_runs_only() {
        let mut data = vec![0, 0, 1, 2, 0, 3];
        data.extend([0; MIN_GAP]);
        data.extend([4, 0, 0]);
        assert_eq!(
            runs_of(&data),
            [(102, vec![1, 2, 0, 3]), (102 + 4 + MIN_GAP as u64, vec![4])]
        );
        assert!(runs_of(&[0; 40]).is_empty());
    }

    #[test]
    fn merges_the_closest_runs_first() {
        let run = |offset, len| Run {
            offset,
            bytes: vec![7; len],
        };
        let merged = merge_closest(vec![run(0, 2), run(100, 1), run(103, 1), run(500, 1)], 3);
        let shape: Vec<(u64, usize)> = merged.iter().map(|r| (r.offset, r.bytes.len())).collect();
        assert_eq!(shape, [(0, 2), (100, 4), (500, 1)]);
        assert_eq!(merged[1].bytes, [7, 0, 0, 7]);
    }

    #[test]
    fn a_resegmented_module_keeps_its_memory_image() {
        // A module with one memory and a segment holding a long zero run.
        let mut module = wasm_encoder::Module::new();
        let mut memories = wasm_encoder::MemorySection::new();
        memories.memory(wasm_encoder::MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memories);
        let mut bytes = vec![9u8; 10];
        bytes.extend([0u8; 1000]);
        bytes.extend([8u8; 10]);
        let mut data = DataSection::new();
        data.passive([1, 2, 3]);
        data.active(0, &ConstExpr::i32_const(16), bytes.iter().copied());
        module.section(&data);
        let module = module.finish();

        let out = resegment_module(&module).unwrap();
        assert!(
            out.len() < module.len() - 900,
            "{} -> {}",
            module.len(),
            out.len()
        );
        wasmparser::Validator::new().validate_all(&out).unwrap();
        let mut image = vec![0u8; 2000];
        for run in nonzero_runs_of_module(&out) {
            image[run.offset as usize..][..run.bytes.len()].copy_from_slice(&run.bytes);
        }
        let mut want = vec![0u8; 2000];
        want[16..16 + bytes.len()].copy_from_slice(&bytes);
        assert_eq!(image, want);
    }

    fn nonzero_runs_of_module(module: &[u8]) -> Vec<Run> {
        let mut runs = vec![];
        walk_sections(module, &mut Vec::new(), |id, section, _| {
            if id == 11 {
                let segments = read_segments(section)?.unwrap();
                assert_eq!(segments.passive, [vec![1, 2, 3]]);
                runs = segments.runs;
            }
            Ok(false)
        })
        .unwrap();
        runs
    }
}
