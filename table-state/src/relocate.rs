//! Relocating a table. (In progress.)
