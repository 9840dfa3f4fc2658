//! Slabs (the `slab` crate): vectors whose holes are reused, so that an
//! item keeps its slot for its whole life and the index can link records by
//! slot. Slots are four bytes here, not a `usize`: every chain link and map
//! value holds one.

/// The position of a record or a peer in its slab.
pub(super) type Slot = u32;

/// The end of a chain. No slab gives out this slot (it would be the 4
/// billionth item), so looking it up finds nothing.
pub(super) const NIL: Slot = Slot::MAX;

/// A [`slab::Slab`] addressed by [`Slot`].
#[derive(Debug)]
pub(super) struct Slab<T>(slab::Slab<T>);

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab(slab::Slab::new())
    }
}

impl<T> Slab<T> {
    /// Stores `item` and returns its slot, or `None` when the slab is full
    /// (the next slot would not fit four bytes, or would be [`NIL`]).
    pub(super) fn insert(&mut self, item: T) -> Option<Slot> {
        let slot = Slot::try_from(self.0.vacant_key()).ok().filter(|&s| s != NIL)?;
        self.0.insert(item);
        Some(slot)
    }

    pub(super) fn remove(&mut self, slot: Slot) -> Option<T> {
        self.0.try_remove(slot as usize)
    }

    /// The item at `slot`; `None` for a hole or for [`NIL`].
    pub(super) fn get(&self, slot: Slot) -> Option<&T> {
        self.0.get(slot as usize)
    }

    pub(super) fn get_mut(&mut self, slot: Slot) -> Option<&mut T> {
        self.0.get_mut(slot as usize)
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}
