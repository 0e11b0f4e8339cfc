//! SQLite's memory through the process's allocator. SQLite allocates and frees a value for every
//! column of every row it hands to the driver; with its default set-up each of those takes a
//! mutex for its memory statistics and goes to the C library's allocator, a sixth of a profile
//! read that misses the cache (bench/README.md).

use std::alloc::{alloc, dealloc, realloc, Layout};
use std::ffi::{c_int, c_void};
use std::ptr::null_mut;

use libsqlite3_sys as ffi;

/// Room before each block for its size, which `free` needs and SQLite does not pass. Blocks are
/// aligned to it, the 8 bytes SQLite requires; a wider alignment sends mimalloc's small blocks
/// down its slow path.
const HEADER: usize = 8;

fn layout_for(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
}

unsafe extern "C" fn sqlite_malloc(size: c_int) -> *mut c_void {
    let Some(layout) = usize::try_from(size).ok().and_then(layout_for) else {
        return null_mut();
    };
    // SAFETY: the layout is non-zero in size (it holds the header).
    let base = unsafe { alloc(layout) };
    if base.is_null() {
        return null_mut();
    }
    // SAFETY: the block is at least HEADER bytes and aligned for a u64.
    unsafe {
        base.cast::<u64>().write((layout.size() - HEADER) as u64);
        base.add(HEADER).cast()
    }
}

/// The block's start and its layout. Safety: `block` came from `sqlite_malloc` or `sqlite_realloc`.
unsafe fn base_of(block: *mut c_void) -> (*mut u8, Layout) {
    // SAFETY: the header sits HEADER bytes before the block and holds the size it was made with,
    // which `layout_for` accepted then.
    unsafe {
        let base = block.cast::<u8>().sub(HEADER);
        let size = base.cast::<u64>().read() as usize;
        (base, Layout::from_size_align_unchecked(size + HEADER, HEADER))
    }
}

unsafe extern "C" fn sqlite_free(block: *mut c_void) {
    if block.is_null() {
        return;
    }
    // SAFETY: SQLite frees only blocks this allocator gave it.
    unsafe {
        let (base, layout) = base_of(block);
        dealloc(base, layout);
    }
}

unsafe extern "C" fn sqlite_realloc(block: *mut c_void, size: c_int) -> *mut c_void {
    if block.is_null() {
        // SAFETY: as malloc.
        return unsafe { sqlite_malloc(size) };
    }
    let Some(new_layout) = usize::try_from(size).ok().and_then(layout_for) else {
        return null_mut();
    };
    // SAFETY: the block is one of ours; the new size is valid for its alignment (checked above).
    unsafe {
        let (base, layout) = base_of(block);
        let moved = realloc(base, layout, new_layout.size());
        if moved.is_null() {
            return null_mut();
        }
        moved.cast::<u64>().write((new_layout.size() - HEADER) as u64);
        moved.add(HEADER).cast()
    }
}

unsafe extern "C" fn sqlite_size(block: *mut c_void) -> c_int {
    if block.is_null() {
        return 0;
    }
    // SAFETY: SQLite asks only about blocks this allocator gave it.
    let (_, layout) = unsafe { base_of(block) };
    c_int::try_from(layout.size() - HEADER).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn sqlite_roundup(size: c_int) -> c_int {
    size.saturating_add(7) & !7
}

unsafe extern "C" fn sqlite_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn sqlite_shutdown(_: *mut c_void) {}

/// Makes SQLite allocate through the process's allocator and keep no memory statistics. Call it
/// before any thread exists that could use SQLite (`sqlite3_config` is not thread-safe); after
/// SQLite has started it changes nothing and answers SQLite's error code.
pub fn use_the_process_allocator() -> Result<(), c_int> {
    let methods = ffi::sqlite3_mem_methods {
        xMalloc: Some(sqlite_malloc),
        xFree: Some(sqlite_free),
        xRealloc: Some(sqlite_realloc),
        xSize: Some(sqlite_size),
        xRoundup: Some(sqlite_roundup),
        xInit: Some(sqlite_init),
        xShutdown: Some(sqlite_shutdown),
        pAppData: null_mut(),
    };
    // SAFETY: SQLite copies the methods; the caller runs this before any other SQLite call.
    let code = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &methods as *const ffi::sqlite3_mem_methods) };
    if code != ffi::SQLITE_OK {
        return Err(code);
    }
    // SAFETY: as above.
    let code = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int) };
    if code != ffi::SQLITE_OK {
        return Err(code);
    }
    Ok(())
}
