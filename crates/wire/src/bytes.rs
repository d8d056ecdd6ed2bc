//! Big-endian field access shared by the packet views.
//!
//! Callers pass ranges from their `mod field`; the views guarantee (after `check_len`)
//! that those ranges are inside the buffer.

use core::ops::Range;

/// A field's byte range inside a header.
pub(crate) type Field = Range<usize>;

#[inline]
pub(crate) fn get_u16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

#[inline]
pub(crate) fn get_u32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

#[inline]
pub(crate) fn set_u16(data: &mut [u8], at: usize, value: u16) {
    data[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

#[inline]
pub(crate) fn set_u32(data: &mut [u8], at: usize, value: u32) {
    data[at..at + 4].copy_from_slice(&value.to_be_bytes());
}
