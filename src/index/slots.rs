//! Slabs: vectors whose holes are reused, so that an item keeps its slot
//! (four bytes) for its whole life and the index can link records by slot.

/// The position of a record or a peer in its slab.
pub(super) type Slot = u32;

/// The end of a chain. No slab gives out this slot (it would be the 4
/// billionth item), so looking it up finds nothing.
pub(super) const NIL: Slot = Slot::MAX;

/// A vector whose holes are reused, so an item's slot stays valid for as
/// long as the item lives.
#[derive(Debug)]
pub(super) struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<Slot>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { items: Vec::new(), free: Vec::new() }
    }
}

impl<T> Slab<T> {
    /// Stores `item` and returns its slot, or `None` when the slab is full.
    pub(super) fn insert(&mut self, item: T) -> Option<Slot> {
        if let Some(slot) = self.free.pop() {
            self.items[slot as usize] = Some(item);
            return Some(slot);
        }
        let slot = Slot::try_from(self.items.len()).ok().filter(|&s| s != NIL)?;
        self.items.push(Some(item));
        Some(slot)
    }

    pub(super) fn remove(&mut self, slot: Slot) -> Option<T> {
        let item = self.items.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        Some(item)
    }

    /// The item at `slot`; `None` for a hole or for [`NIL`].
    pub(super) fn get(&self, slot: Slot) -> Option<&T> {
        self.items.get(slot as usize)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, slot: Slot) -> Option<&mut T> {
        self.items.get_mut(slot as usize)?.as_mut()
    }

    pub(super) fn len(&self) -> usize {
        self.items.len() - self.free.len()
    }
}
