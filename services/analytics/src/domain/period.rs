//! Periods and the hour and day buckets read models are kept in (UTC, ms since the
//! epoch).

/// One hour, ms.
pub const HOUR: i64 = 3_600_000;
/// One day, ms.
pub const DAY: i64 = 24 * HOUR;

/// A read model's bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    /// Hours.
    Hour,
    /// Days.
    Day,
}

impl Grain {
    /// Both grains.
    pub const ALL: [Grain; 2] = [Grain::Hour, Grain::Day];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Hour => "hour",
            Grain::Day => "day",
        }
    }

    /// Its length, ms.
    pub fn millis(self) -> i64 {
        match self {
            Grain::Hour => HOUR,
            Grain::Day => DAY,
        }
    }

    /// The start of the bucket holding `at`.
    pub fn bucket(self, at: i64) -> i64 {
        at - at.rem_euclid(self.millis())
    }
}

/// The instant `at` ms after the epoch (clamped to what `time` can represent).
pub fn instant(at: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// The start of the minute holding `at`.
pub fn minute_of(at: i64) -> i64 {
    at - at.rem_euclid(60_000)
}

/// A half-open period `[from, to)`, ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Its first instant.
    pub from: i64,
    /// The first instant after it.
    pub to: i64,
}

/// A piece of a period and where its figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// Whole buckets of a grain, `[from, to)`.
    Buckets(Grain, Period),
    /// Less than an hour: read from the rows themselves.
    Rows(Period),
}

impl Period {
    /// Covers the period with as few pieces as possible: whole days, then whole hours
    /// at its ends, then the rows of the partial hours at its very ends. At most two
    /// partial hours are read row by row, however long the period.
    pub fn pieces(self) -> Vec<Piece> {
        let mut pieces = Vec::new();
        if self.from >= self.to {
            return pieces;
        }
        let hour_from = ceil(self.from, HOUR);
        let hour_to = self.to - self.to.rem_euclid(HOUR);
        if hour_from >= hour_to {
            pieces.push(Piece::Rows(self));
            return pieces;
        }
        if self.from < hour_from {
            pieces.push(Piece::Rows(Period {
                from: self.from,
                to: hour_from,
            }));
        }
        let day_from = ceil(hour_from, DAY);
        let day_to = hour_to - hour_to.rem_euclid(DAY);
        if day_from < day_to {
            if hour_from < day_from {
                pieces.push(Piece::Buckets(
                    Grain::Hour,
                    Period {
                        from: hour_from,
                        to: day_from,
                    },
                ));
            }
            pieces.push(Piece::Buckets(
                Grain::Day,
                Period {
                    from: day_from,
                    to: day_to,
                },
            ));
            if day_to < hour_to {
                pieces.push(Piece::Buckets(
                    Grain::Hour,
                    Period {
                        from: day_to,
                        to: hour_to,
                    },
                ));
            }
        } else {
            pieces.push(Piece::Buckets(
                Grain::Hour,
                Period {
                    from: hour_from,
                    to: hour_to,
                },
            ));
        }
        if hour_to < self.to {
            pieces.push(Piece::Rows(Period {
                from: hour_to,
                to: self.to,
            }));
        }
        pieces
    }
}

/// The smallest multiple of `unit` at or after `at`.
fn ceil(at: i64, unit: i64) -> i64 {
    let rem = at.rem_euclid(unit);
    if rem == 0 { at } else { at - rem + unit }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(period: Period) -> i64 {
        let mut at = period.from;
        for piece in period.pieces() {
            let part = match piece {
                Piece::Buckets(grain, part) => {
                    assert_eq!(part.from % grain.millis(), 0);
                    assert_eq!(part.to % grain.millis(), 0);
                    part
                }
                Piece::Rows(part) => {
                    assert!(part.to - part.from < HOUR);
                    part
                }
            };
            assert_eq!(part.from, at, "pieces are contiguous");
            at = part.to;
        }
        at
    }

    #[test]
    fn pieces_cover_a_period_exactly_with_whole_buckets_inside() {
        let day = 20_000 * DAY;
        for (from, to) in [
            (day + 90_000, day + 3 * DAY + 5 * HOUR + 17),
            (day, day + DAY),
            (day + 60_000, day + 120_000),
            (day + HOUR + 1, day + 5 * HOUR),
            (day, day + 3 * HOUR),
        ] {
            let period = Period { from, to };
            assert_eq!(covered(period), to);
        }
        let long = Period {
            from: day + 123,
            to: day + 300 * DAY + 456,
        };
        let rows = long
            .pieces()
            .iter()
            .filter(|p| matches!(p, Piece::Rows(_)))
            .count();
        assert_eq!(rows, 2);
        assert!(Period { from: 5, to: 5 }.pieces().is_empty());
    }
}
