//! Support's rules, apart from transport and storage: the `Ticket` aggregate with its
//! state machine and conversation (`ticket`), and knowledge-base articles (`article`).

mod article;
mod ticket;

pub use article::{Article, ArticleInput, Tags};
pub use ticket::{
    AuthorRole, Message, NewTicket, Ticket, TicketConflict, TicketFilter, TicketStatus,
};

pub use contracts::types::{Invalid, Text};

/// A subject line: 1 to 200 characters, one line.
pub type Subject = Text<200>;
/// A message body: 1 to 10 000 characters, newlines allowed.
pub type Body = Text<10_000, true>;
/// An article's title: 1 to 200 characters, one line.
pub type Title = Text<200>;
/// An article's text: 1 to 50 000 characters, newlines allowed.
pub type ArticleBody = Text<50_000, true>;
