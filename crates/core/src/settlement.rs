//! Settlement math on exact fixed-point USDC: slashes, bounties, MEV slashes, hop costs and
//! stake tiers. All rounding is down to the micro-USDC, so no rule takes or pays more than
//! it states.

use kagami_crypto::Uuid;
use serde::Serialize;

use crate::Usdc;

/// An agent's stake as the settlement rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StakeAccount {
    /// Mirrors the on-chain stake.
    pub staked: Usdc,
    /// Slashed so far (never more than `staked`).
    pub slashed: Usdc,
    /// Locked by hops in flight (for a decision about one root transaction: locked by the
    /// flows of other roots).
    pub locked: Usdc,
}

impl StakeAccount {
    /// `staked − slashed − locked`, never below zero.
    pub const fn available(&self) -> Usdc {
        self.staked
            .saturating_sub(self.slashed)
            .saturating_sub(self.locked)
    }

    /// Applies a slash, capped at what is left unslashed, and returns the amount taken.
    pub fn apply_slash(&mut self, amount: Usdc) -> Usdc {
        let taken = amount.min(self.staked.saturating_sub(self.slashed));
        self.slashed = self.slashed.checked_add(taken).unwrap_or(self.staked);
        taken
    }

    /// This account with `staked` mirroring a new on-chain stake.
    ///
    /// # Errors
    /// [`StakeBelowSlashed`] when `staked` is below what is already slashed: the ledger never
    /// shows more slashed than staked.
    pub const fn with_staked(self, staked: Usdc) -> Result<Self, StakeBelowSlashed> {
        if staked.micros() < self.slashed.micros() {
            return Err(StakeBelowSlashed {
                slashed: self.slashed,
            });
        }
        Ok(Self { staked, ..self })
    }
}

/// A stake update below the slashed amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stake cannot be set below the {slashed} USDC already slashed")]
pub struct StakeBelowSlashed {
    /// Already slashed.
    pub slashed: Usdc,
}

/// The share of available stake a cycle slashes, in basis points: `min(50 %, 10 % × depth)`.
pub fn cycle_slash_rate_bps(depth: u32) -> u64 {
    (1000 * u64::from(depth)).min(5000)
}

/// What one cycle agent is slashed: [`cycle_slash_rate_bps`] of its available stake.
pub fn cycle_slash(account: &StakeAccount, depth: u32) -> Usdc {
    account
        .available()
        .mul_div_floor(cycle_slash_rate_bps(depth), 10_000)
}

/// The reporter's bounty: `min(1000, 50 × (1 + 0.5 × depth) + 10 % × total_slashed)` USDC.
pub fn reporter_bounty(depth: u32, total_slashed: Usdc) -> Usdc {
    let cap = Usdc::from_usdc(1000);
    // 50 × (1 + 0.5 × depth) = 50 + 25 × depth, exact in whole USDC.
    let base =
        Usdc::from_usdc(50).checked_add(Usdc::from_usdc(25).mul_div_floor(u64::from(depth), 1));
    base.and_then(|b| b.checked_add(total_slashed.mul_div_floor(1, 10)))
        .map_or(cap, |b| b.min(cap))
}

/// The slash for an MEV incident: `min(2 × extracted value, available stake)`.
pub fn mev_slash(extracted: Usdc, account: &StakeAccount) -> Usdc {
    extracted.mul_div_floor(2, 1).min(account.available())
}

/// One agent's share of a settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Slash {
    /// The slashed agent.
    pub agent: Uuid,
    /// The amount taken.
    pub amount: Usdc,
}

/// Who reported a loop, as the bounty rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reporter {
    /// The reporter's address is the owner or a manifest key of an agent liable for the loop:
    /// it would be paying itself out of its own slash, so it earns nothing.
    pub is_liable: bool,
}

/// The money side of settling one loop. The ledger balances by construction:
/// `total_slashed = bounty + retained`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettlementPlan {
    /// One entry per liable agent that had stake to take, in liability order.
    pub slashes: Vec<Slash>,
    /// Sum of the slashes.
    pub total_slashed: Usdc,
    /// The reporter's bounty (`None` without a reporter).
    pub bounty: Option<Usdc>,
    /// What the service keeps: `total_slashed − bounty`.
    pub retained: Usdc,
}

/// Plans a loop settlement: every liable agent of `accounts` (with its stake) is slashed per
/// [`cycle_slash`] at the loop's `depth`; a reporter earns [`reporter_bounty`], but never more
/// than was slashed, and nothing when it is one of the liable agents (the loop is settled all
/// the same).
pub fn plan_loop_settlement(
    depth: u32,
    accounts: &[(Uuid, StakeAccount)],
    reporter: Option<Reporter>,
) -> SettlementPlan {
    let slashes: Vec<Slash> = accounts
        .iter()
        .map(|(agent, account)| Slash {
            agent: *agent,
            amount: cycle_slash(account, depth),
        })
        .filter(|s| s.amount > Usdc::ZERO)
        .collect();
    let total_slashed = slashes.iter().fold(Usdc::ZERO, |sum, s| {
        sum.checked_add(s.amount).unwrap_or(Usdc::MAX)
    });
    let bounty = reporter.map(|r| {
        if r.is_liable {
            Usdc::ZERO
        } else {
            reporter_bounty(depth, total_slashed).min(total_slashed)
        }
    });
    SettlementPlan {
        retained: total_slashed.saturating_sub(bounty.unwrap_or(Usdc::ZERO)),
        slashes,
        total_slashed,
        bounty,
    }
}

/// The operations whose per-hop cost grows with depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Verifying a forward.
    Verify,
    /// Signing a receipt.
    Sign,
    /// Forwarding a payment.
    Forward,
    /// Settling.
    Settle,
}

impl Operation {
    /// `(base cost in micro-USDC, multiplier numerator /100, max rational hops)`.
    const fn table(self) -> (i64, u64, u32) {
        match self {
            Self::Verify => (1_000, 105, 10),
            Self::Sign => (2_000, 110, 10),
            Self::Forward => (5_000, 115, 8),
            Self::Settle => (10_000, 120, 6),
        }
    }
}

/// The cost of an operation at a hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HopCost {
    /// `base × multiplier^hop`, rounded down to the micro-USDC.
    pub amount: Usdc,
    /// The hop is beyond the operation's max rational hops.
    pub prohibitive: bool,
}

/// `base × multiplier^hop` for `operation`, with the table verify 0.001/1.05/10,
/// sign 0.002/1.10/10, forward 0.005/1.15/8, settle 0.010/1.20/6 (base USDC / multiplier /
/// max rational hops), computed exactly in integers and rounded down.
pub fn hop_cost(operation: Operation, hop: u32) -> HopCost {
    let (base, multiplier, max_rational) = operation.table();
    // Exact: base × m^hop / 100^hop in u128; past what u128 holds the cost is already
    // astronomically beyond any stake, so it saturates.
    let exact = (0..hop).try_fold(
        (u128::try_from(base).unwrap_or(0), 1u128),
        |(num, den), _| {
            Some((
                num.checked_mul(u128::from(multiplier))?,
                den.checked_mul(100)?,
            ))
        },
    );
    let amount = exact
        .and_then(|(num, den)| i64::try_from(num / den).ok())
        .and_then(|micros| Usdc::from_micros(micros).ok())
        .unwrap_or(Usdc::MAX);
    HopCost {
        amount,
        prohibitive: hop > max_rational,
    }
}

/// Stake tiers, by staked amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StakeTier {
    /// ≥ 100 USDC.
    Bronze,
    /// ≥ 1,000 USDC.
    Silver,
    /// ≥ 5,000 USDC.
    Gold,
    /// ≥ 10,000 USDC.
    Platinum,
}

impl StakeTier {
    /// The tier of a stake, or `None` below 100 USDC.
    pub fn of(stake: Usdc) -> Option<Self> {
        [
            (10_000, Self::Platinum),
            (5_000, Self::Gold),
            (1_000, Self::Silver),
            (100, Self::Bronze),
        ]
        .into_iter()
        .find(|(min, _)| stake >= Usdc::from_usdc(*min))
        .map(|(_, tier)| tier)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn usdc(s: &str) -> Usdc {
        s.parse().unwrap()
    }

    fn account(staked: &str) -> StakeAccount {
        StakeAccount {
            staked: usdc(staked),
            ..StakeAccount::default()
        }
    }

    #[test]
    fn slash_rate_is_ten_percent_per_agent_capped_at_half() {
        assert_eq!(cycle_slash_rate_bps(2), 2000);
        assert_eq!(cycle_slash_rate_bps(4), 4000);
        assert_eq!(cycle_slash_rate_bps(5), 5000);
        assert_eq!(cycle_slash_rate_bps(11), 5000);
        assert_eq!(cycle_slash(&account("1000"), 2), usdc("200"));
        assert_eq!(cycle_slash(&account("1000"), 9), usdc("500"));
    }

    #[test]
    fn slash_is_taken_from_available_stake_only() {
        let a = StakeAccount {
            staked: usdc("1000"),
            slashed: usdc("300"),
            locked: usdc("200"),
        };
        assert_eq!(a.available(), usdc("500"));
        assert_eq!(cycle_slash(&a, 3), usdc("150"));
        let over_locked = StakeAccount {
            staked: usdc("100"),
            slashed: usdc("50"),
            locked: usdc("80"),
        };
        assert_eq!(over_locked.available(), Usdc::ZERO);
        assert_eq!(cycle_slash(&over_locked, 3), Usdc::ZERO);
    }

    #[test]
    fn stake_may_not_drop_below_what_is_slashed() {
        let a = StakeAccount {
            staked: usdc("1000"),
            slashed: usdc("200"),
            locked: usdc("100"),
        };
        assert_eq!(
            a.with_staked(usdc("199.999999")),
            Err(StakeBelowSlashed {
                slashed: usdc("200")
            })
        );
        assert_eq!(
            a.with_staked(usdc("200")).map(|a| a.available()),
            Ok(Usdc::ZERO)
        );
    }

    #[test]
    fn slash_rounds_down_to_the_micro() {
        assert_eq!(cycle_slash(&account("0.000009"), 3), usdc("0.000002"));
    }

    #[test]
    fn bounty_known_answers_and_cap() {
        // depth 2: 50 × 2 = 100, + 10 % of 300 = 130.
        assert_eq!(reporter_bounty(2, usdc("300")), usdc("130"));
        // depth 3: 50 × 2.5 = 125.
        assert_eq!(reporter_bounty(3, Usdc::ZERO), usdc("125"));
        // exactly at the cap: 100 + 900 = 1000.
        assert_eq!(reporter_bounty(2, usdc("9000")), usdc("1000"));
        assert_eq!(reporter_bounty(2, usdc("9000.000010")), usdc("1000"));
        assert_eq!(reporter_bounty(2, usdc("8999.99999")), usdc("999.999999"));
        assert_eq!(reporter_bounty(u32::MAX, Usdc::MAX), usdc("1000"));
    }

    #[test]
    fn mev_slash_is_twice_the_extraction_up_to_available() {
        assert_eq!(mev_slash(usdc("10"), &account("1000")), usdc("20"));
        assert_eq!(mev_slash(usdc("600"), &account("1000")), usdc("1000"));
    }

    #[test]
    fn hop_costs_follow_the_table() {
        assert_eq!(
            hop_cost(Operation::Verify, 0),
            HopCost {
                amount: usdc("0.001"),
                prohibitive: false
            }
        );
        assert_eq!(hop_cost(Operation::Forward, 1).amount, usdc("0.00575"));
        // 0.005 × 1.15^8 = 0.0152951… → 0.015295 (rounded down).
        assert_eq!(
            hop_cost(Operation::Forward, 8),
            HopCost {
                amount: usdc("0.015295"),
                prohibitive: false
            }
        );
        assert!(hop_cost(Operation::Forward, 9).prohibitive);
        assert!(!hop_cost(Operation::Sign, 10).prohibitive);
        assert!(hop_cost(Operation::Sign, 11).prohibitive);
        assert!(!hop_cost(Operation::Settle, 6).prohibitive);
        assert!(hop_cost(Operation::Settle, 7).prohibitive);
        // 0.010 × 1.2^2 = 0.0144.
        assert_eq!(hop_cost(Operation::Settle, 2).amount, usdc("0.0144"));
    }

    #[test]
    fn tiers_start_at_their_thresholds() {
        assert_eq!(StakeTier::of(usdc("99.999999")), None);
        assert_eq!(StakeTier::of(usdc("100")), Some(StakeTier::Bronze));
        assert_eq!(StakeTier::of(usdc("999.999999")), Some(StakeTier::Bronze));
        assert_eq!(StakeTier::of(usdc("1000")), Some(StakeTier::Silver));
        assert_eq!(StakeTier::of(usdc("5000")), Some(StakeTier::Gold));
        assert_eq!(StakeTier::of(usdc("10000")), Some(StakeTier::Platinum));
    }

    #[test]
    fn settlement_plan_slashes_every_liable_agent_and_pays_the_reporter() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let honest = Some(Reporter { is_liable: false });
        let plan = plan_loop_settlement(2, &[(a, account("1000")), (b, account("500"))], honest);
        assert_eq!(
            plan.slashes,
            vec![
                Slash {
                    agent: a,
                    amount: usdc("200")
                },
                Slash {
                    agent: b,
                    amount: usdc("100")
                }
            ]
        );
        assert_eq!(plan.total_slashed, usdc("300"));
        assert_eq!(plan.bounty, Some(usdc("130")));
        assert_eq!(plan.retained, usdc("170"));
        assert_eq!(
            plan_loop_settlement(2, &[(a, account("1000"))], None).bounty,
            None
        );
    }

    #[test]
    fn the_bounty_never_exceeds_the_slash_and_a_liable_reporter_earns_nothing() {
        let a = Uuid::from_u128(1);
        // 20 % of 10 USDC = 2 slashed; the formula says 100 + 0.2 = 100.2.
        let honest = Some(Reporter { is_liable: false });
        let plan = plan_loop_settlement(2, &[(a, account("10"))], honest);
        assert_eq!(
            (plan.total_slashed, plan.bounty),
            (usdc("2"), Some(usdc("2")))
        );
        assert_eq!(plan.retained, Usdc::ZERO);
        let liable = Some(Reporter { is_liable: true });
        let plan = plan_loop_settlement(2, &[(a, account("1000"))], liable);
        assert_eq!(
            (plan.bounty, plan.retained),
            (Some(Usdc::ZERO), usdc("200"))
        );
        let nothing = plan_loop_settlement(2, &[(a, account("0"))], honest);
        assert_eq!(
            (nothing.slashes.len(), nothing.bounty),
            (0, Some(Usdc::ZERO))
        );
    }

    fn amount() -> impl Strategy<Value = Usdc> {
        (0i64..=1_000_000_000_000_000).prop_map(|m| Usdc::from_micros(m).unwrap())
    }

    proptest! {
        #[test]
        fn bounty_never_exceeds_1000(depth in 0u32..1000, total in amount()) {
            prop_assert!(reporter_bounty(depth, total) <= Usdc::from_usdc(1000));
        }

        #[test]
        fn bounty_is_monotone_in_depth_and_slashed(depth in 0u32..1000, total in amount(), more in amount()) {
            prop_assert!(reporter_bounty(depth, total) <= reporter_bounty(depth + 1, total));
            let bigger = total.checked_add(more).unwrap_or(Usdc::MAX);
            prop_assert!(reporter_bounty(depth, total) <= reporter_bounty(depth, bigger));
        }

        #[test]
        fn repeated_slashes_never_exceed_the_stake(
            staked in amount(), locked in amount(), depths in proptest::collection::vec(1u32..12, 1..40),
            mev in proptest::collection::vec(amount(), 0..5)
        ) {
            let mut account = StakeAccount { staked, slashed: Usdc::ZERO, locked };
            for depth in depths {
                let slash = cycle_slash(&account, depth);
                prop_assert!(slash <= account.available());
                account.apply_slash(slash);
                prop_assert!(account.slashed <= account.staked);
            }
            for extracted in mev {
                let slash = mev_slash(extracted, &account);
                prop_assert!(slash <= account.available());
                account.apply_slash(slash);
                prop_assert!(account.slashed <= account.staked);
            }
        }

        #[test]
        fn a_settlement_pays_out_exactly_what_it_slashes(
            depth in 1u32..12,
            accounts in proptest::collection::vec((amount(), amount(), amount()), 0..6),
            reporter in proptest::option::of(any::<bool>()),
        ) {
            let accounts: Vec<(Uuid, StakeAccount)> = accounts
                .into_iter()
                .enumerate()
                .map(|(i, (staked, slashed, locked))| {
                    let slashed = slashed.min(staked);
                    (Uuid::from_u128(i as u128 + 1), StakeAccount { staked, slashed, locked })
                })
                .collect();
            let plan = plan_loop_settlement(depth, &accounts, reporter.map(|is_liable| Reporter { is_liable }));
            let sum = plan.slashes.iter().fold(Usdc::ZERO, |s, x| s.checked_add(x.amount).unwrap());
            prop_assert_eq!(sum, plan.total_slashed);
            let bounty = plan.bounty.unwrap_or(Usdc::ZERO);
            prop_assert_eq!(bounty.checked_add(plan.retained), Some(plan.total_slashed));
            prop_assert!(bounty <= plan.total_slashed);
            if reporter == Some(true) {
                prop_assert_eq!(bounty, Usdc::ZERO);
            }
            for slash in &plan.slashes {
                let (_, account) = accounts.iter().find(|(a, _)| *a == slash.agent).unwrap();
                prop_assert!(slash.amount <= account.available(), "never below zero");
            }
        }

        #[test]
        fn hop_cost_grows_with_hop(hop in 0u32..200) {
            for op in [Operation::Verify, Operation::Sign, Operation::Forward, Operation::Settle] {
                prop_assert!(hop_cost(op, hop).amount <= hop_cost(op, hop + 1).amount);
            }
        }
    }
}
