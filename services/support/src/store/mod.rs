//! Support's SQL: the only place that turns rows into aggregates and back. Tickets with
//! their messages (`tickets`) and knowledge-base articles (`articles`). One portable
//! SQL text per query (`$n` placeholders), over [`platform::db`].

pub mod articles;
pub mod tickets;
