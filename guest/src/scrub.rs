//! A global allocator that zeroes memory as it is freed, switched on only during pack-time
//! initialization. Wizer snapshots every non-zero byte of linear memory: without scrubbing,
//! the freed NNEF payload and parse buffers would ride along in the packed component next to
//! the optimized plan. After init it is a pass-through.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

static SCRUB: AtomicBool = AtomicBool::new(false);

pub(crate) struct ScrubbingAllocator;

unsafe impl GlobalAlloc for ScrubbingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if SCRUB.load(Ordering::Relaxed) {
            unsafe { ptr.write_bytes(0, layout.size()) };
            // The zeroing is a store to memory that is about to be freed: without this,
            // LLVM removes it as dead (it knows what `free` means).
            std::hint::black_box(ptr);
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !SCRUB.load(Ordering::Relaxed) {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // Move by hand so the old block goes through the scrubbing `dealloc`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

/// Runs `f` with scrubbing on, then clears the stack below it of what `f`'s deep calls left.
pub(crate) fn scrubbing<T>(f: impl FnOnce() -> T) -> T {
    SCRUB.store(true, Ordering::Relaxed);
    let out = f();
    SCRUB.store(false, Ordering::Relaxed);
    scrub_stack();
    out
}

/// Largest read of the pack payload at once: bounds the temporary buffer each read lands in.
pub(crate) const SMALL_READ: usize = 64 << 10;

/// Caps each read at [`SMALL_READ`] bytes.
pub(crate) struct SmallReads<R>(pub(crate) R);

impl<R: std::io::Read> std::io::Read for SmallReads<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(SMALL_READ);
        self.0.read(&mut buf[..n])
    }
}

/// Zeroes 512 KiB of stack below the caller (the guest's stack is 1 MiB and init runs near
/// its top), where parsing and the warm-up left their frames.
#[inline(never)]
fn scrub_stack() {
    let mut zeros = [0u8; 512 << 10];
    std::hint::black_box(&mut zeros);
}
