// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

/// @notice Who a settlement pays: only the provider each voucher names, less the fee computed per
/// provider at the rate in force; the provider reports that claims point into; and spend tracks
/// per (account, signer, provider).
contract SettleProvidersTest is EscrowTestBase {
    function setUp() public override {
        super.setUp();
        _fund(alice, 100e6);
        _fund(bob, 100e6);
    }

    // No role chooses payees ----------------------------------------------------------------------

    function test_settle_revertsWhenAClaimPointsAtTheSettlersOwnReport() public {
        // Alice's voucher names provider1. The settler lists itself and points her claim at its own
        // report: the signature is checked against the provider the claim pays, so it fails.
        assertTrue(settler < provider1, "reports ascending");
        bytes memory sig = _signVoucher(ALICE_KEY, alice, provider1, 5e6);
        _settleExpectRevert(
            _encodeClaim(alice, alice, 0, 5e6, 5e6, sig),
            _reports(settler, provider1),
            abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, alice, alice)
        );
        assertEq(escrow.earningsOf(settler), 0, "settler paid nothing");
        assertEq(_balance(alice), 100e6, "alice untouched");
    }

    function test_settle_revertsWhenAClaimPaysAnotherProviderThanItsVoucher() public {
        bytes memory sig = _signVoucher(ALICE_KEY, alice, provider1, 5e6);
        _settleExpectRevert(
            _encodeClaim(alice, alice, 0, 5e6, 5e6, sig),
            _reports(provider2),
            abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, alice, alice)
        );
    }

    function test_settle_aReportWithoutClaimsIsCreditedNothing() public {
        // The settler may list any provider (to report its calls), but only claims pay, and only
        // to the provider their vouchers name.
        _settleWith("b", _ownClaimTo(ALICE_KEY, provider2, 1, 5e6), _reports(settler, provider2));
        assertEq(escrow.earningsOf(settler), 0, "listed, never paid");
        (uint256 credit,) = _split(5e6);
        assertEq(escrow.earningsOf(provider2), credit, "the named provider is paid");
    }

    // Tracks per provider -------------------------------------------------------------------------

    function test_settle_tracksPerProviderAreIndependent() public {
        bytes memory claims =
            abi.encodePacked(_ownClaimTo(ALICE_KEY, provider1, 0, 3e6), _ownClaimTo(ALICE_KEY, provider2, 1, 3e6));
        _settleWith("b", claims, _reports(provider1, provider2));
        assertEq(escrow.claimedOf(alice, alice, provider1), 3e6, "track 1");
        assertEq(escrow.claimedOf(alice, alice, provider2), 3e6, "track 2");
        assertEq(escrow.accountOf(alice).claimed, 6e6, "account total over tracks");
        assertEq(_balance(alice), 94e6, "both debited in full");
        // A later voucher on one track claims only that track's delta.
        _settleWith("b2", _ownClaimTo(ALICE_KEY, provider2, 0, 4e6), _reports(provider2));
        assertEq(_balance(alice), 93e6, "delta on track 2 only");
        assertEq(escrow.accountOf(alice).claimed, 7e6, "account total");
    }

    function test_settle_claimBelowClaimedIsPerTrack() public {
        _settleWith("b1", _ownClaimTo(ALICE_KEY, provider1, 0, 5e6), _reports(provider1));
        // 4e6 is below what provider1's track claimed, but provider2's track is fresh.
        _settleWith("b2", _ownClaimTo(ALICE_KEY, provider2, 0, 4e6), _reports(provider2));
        _settleExpectRevert(
            _ownClaimTo(ALICE_KEY, provider2, 0, 3e6),
            _reports(provider2),
            abi.encodeWithSelector(IAgentTabEscrow.ClaimBelowClaimed.selector, alice, alice, 4e6, 3e6)
        );
    }

    // Delegate cap over all providers -------------------------------------------------------------

    function test_settle_delegateCapBoundsItsTotalAcrossProviders() public {
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        _settleWith("b1", _delegateClaimTo(alice, HOT_KEY, provider1, 0, 3e6, 3e6), _reports(provider1));
        // 3 on provider2's fresh track is within each voucher, but takes the delegate to 6 > 5.
        _settleExpectRevert(
            _delegateClaimTo(alice, HOT_KEY, provider2, 0, 3e6, 3e6),
            _reports(provider2),
            abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveDelegateCap.selector, alice, hot, 5e6, 6e6)
        );
        _settleWith("b2", _delegateClaimTo(alice, HOT_KEY, provider2, 0, 2e6, 2e6), _reports(provider2));
        assertEq(escrow.delegationOf(alice, hot).claimed, 5e6, "delegate total at its cap");
        assertEq(escrow.claimedOf(alice, hot, provider1), 3e6, "track 1");
        assertEq(escrow.claimedOf(alice, hot, provider2), 2e6, "track 2");
    }

    function test_settle_delegateCapBoundsItsTotalWithinOneBatch() public {
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        bytes memory claims = abi.encodePacked(
            _delegateClaimTo(alice, HOT_KEY, provider1, 0, 3e6, 3e6),
            _delegateClaimTo(alice, HOT_KEY, provider2, 1, 3e6, 3e6)
        );
        _settleExpectRevert(
            claims,
            _reports(provider1, provider2),
            abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveDelegateCap.selector, alice, hot, 5e6, 6e6)
        );
    }

    function testFuzz_settle_delegateTotalNeverBeyondCap(uint96 capSeed, uint128 firstSeed, uint128 secondSeed) public {
        uint256 cap = bound(capSeed, 0, 50e6);
        uint256 first = bound(firstSeed, 0, cap);
        uint256 second = bound(secondSeed, 1, 50e6);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, uint96(cap), 0);
        if (first > 0) _settleWith("f1", _delegateClaimTo(alice, HOT_KEY, provider1, 0, first, first), _reports(provider1));
        bytes memory claim = _delegateClaimTo(alice, HOT_KEY, provider2, 0, second, second);
        if (first + second > cap) {
            _settleExpectRevert(
                claim,
                _reports(provider2),
                abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveDelegateCap.selector, alice, hot, cap, first + second)
            );
        } else {
            _settleWith("f2", claim, _reports(provider2));
        }
        uint256 total = escrow.delegationOf(alice, hot).claimed;
        assertLe(total, cap, "delegate total within cap");
        assertEq(total, escrow.claimedOf(alice, hot, provider1) + escrow.claimedOf(alice, hot, provider2), "sum of tracks");
        assertEq(_balance(alice), 100e6 - total, "account debited the delegate's total");
    }

    // Fee per provider ----------------------------------------------------------------------------

    function test_settle_feeIsRoundedDownPerProvider() public {
        // 150 units to each provider at 1%: 1 unit of fee each (1.5 rounded down), not 3 on the 300.
        bytes memory claims =
            abi.encodePacked(_ownClaimTo(ALICE_KEY, provider1, 0, 150), _ownClaimTo(BOB_KEY, provider2, 1, 150));
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IAgentTabEscrow.ProviderCredited("b", provider1, 149, 1, 0, 149);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IAgentTabEscrow.ProviderCredited("b", provider2, 149, 1, 0, 149);
        _settleWith("b", claims, _reports(provider1, provider2));
        assertEq(escrow.accruedFees(), 2, "fees");
        _assertSolvent();
    }

    function test_settle_feeIsOnAProvidersBatchGross() public {
        // Two claims of 50 to the same provider: 1 unit on the 100, where 0 + 0 per claim.
        bytes memory claims =
            abi.encodePacked(_ownClaimTo(ALICE_KEY, provider1, 0, 50), _ownClaimTo(BOB_KEY, provider1, 0, 50));
        _settle("b", claims);
        assertEq(escrow.accruedFees(), 1, "fee on the provider's gross");
        assertEq(escrow.earningsOf(provider1), 99, "credit");
    }

    function test_settle_feeIsAtTheRateInForce() public {
        vm.prank(admin);
        escrow.setFeeRate(250);
        _settle("b", _ownClaim(ALICE_KEY, 10e6));
        assertEq(escrow.accruedFees(), 250_000, "2.5%");
        assertEq(escrow.earningsOf(provider1), 9_750_000, "credit");
        vm.prank(admin);
        escrow.setFeeRate(0);
        _settle("b2", _ownClaim(ALICE_KEY, 12e6));
        assertEq(escrow.accruedFees(), 250_000, "no fee at rate 0");
        assertEq(escrow.earningsOf(provider1), 11_750_000, "credited in full");
    }

    function test_settle_batchSettledDebitEqualsCreditsPlusFee() public {
        bytes memory claims =
            abi.encodePacked(_ownClaimTo(ALICE_KEY, provider1, 0, 333), _ownClaimTo(BOB_KEY, provider2, 1, 777));
        bytes memory log = abi.encodePacked(
            abi.encodePacked(uint8(0), alice, provider1, uint128(333), uint128(333)),
            abi.encodePacked(uint8(0), bob, provider2, uint128(777), uint128(777))
        );
        vm.expectEmit(true, false, false, true, address(escrow));
        emit IAgentTabEscrow.BatchSettled("b", 1110, 3 + 7, 2, log);
        _settleWith("b", claims, _reports(provider1, provider2));
        assertEq(escrow.earningsOf(provider1) + escrow.earningsOf(provider2) + escrow.accruedFees(), 1110, "conserved");
    }

    function testFuzz_settle_feePerProviderAtTheRate(uint16 rateSeed, uint64 g1, uint64 g2, uint64 g3) public {
        uint256 rate = bound(rateSeed, 0, MAX_FEE_BPS);
        vm.prank(admin);
        escrow.setFeeRate(uint16(rate));
        _fund(hot, 100e6);
        uint256 gross1 = bound(g1, 1, 30e6);
        uint256 gross2 = bound(g2, 1, 30e6);
        uint256 gross3 = bound(g3, 1, 30e6);
        // Alice pays provider1 twice over two tracks (hers and Bob's), the hot key pays provider2.
        bytes memory claims = abi.encodePacked(
            _ownClaimTo(ALICE_KEY, provider1, 0, gross1),
            _ownClaimTo(BOB_KEY, provider1, 0, gross2),
            _ownClaimTo(HOT_KEY, provider2, 1, gross3)
        );
        _settleWith("f", claims, _reports(provider1, provider2));
        uint256 fee1 = (gross1 + gross2) * rate / 10_000;
        uint256 fee2 = gross3 * rate / 10_000;
        assertEq(escrow.earningsOf(provider1), gross1 + gross2 - fee1, "provider1 credit");
        assertEq(escrow.earningsOf(provider2), gross3 - fee2, "provider2 credit");
        assertEq(escrow.accruedFees(), fee1 + fee2, "fee per provider");
        assertEq(
            escrow.earningsOf(provider1) + escrow.earningsOf(provider2) + escrow.accruedFees(),
            gross1 + gross2 + gross3,
            "credits + fee == debited"
        );
        _assertSolvent();
    }

    // Provider reports ----------------------------------------------------------------------------

    function test_settle_revertsWhenProvidersDescending() public {
        _settleExpectRevert(
            _ownClaimTo(ALICE_KEY, provider1, 1, 1e6),
            _reports(provider2, provider1),
            abi.encodeWithSelector(IAgentTabEscrow.ProvidersNotAscending.selector, 1)
        );
    }

    function test_settle_revertsWhenAProviderIsListedTwice() public {
        _settleExpectRevert(
            _ownClaim(ALICE_KEY, 1e6),
            _reports(provider1, provider1),
            abi.encodeWithSelector(IAgentTabEscrow.ProvidersNotAscending.selector, 1)
        );
    }

    function test_settle_revertsOnZeroProvider() public {
        _settleExpectRevert(
            _ownClaim(ALICE_KEY, 1e6), _reports(address(0)), abi.encodeWithSelector(IAgentTabEscrow.ZeroAddress.selector)
        );
    }

    function test_settle_revertsWhenProviderIndexOutOfRange() public {
        bytes memory first = _ownClaim(BOB_KEY, 1e6);
        bytes memory claims = abi.encodePacked(first, _ownClaimTo(ALICE_KEY, provider2, 1, 1e6));
        _settleExpectRevert(
            claims, _reports(provider1), abi.encodeWithSelector(IAgentTabEscrow.MalformedClaim.selector, first.length)
        );
    }

    function test_settle_revertsOnClaimsWithoutReports() public {
        _settleExpectRevert(
            _ownClaim(ALICE_KEY, 1e6),
            new IAgentTabEscrow.ProviderReport[](0),
            abi.encodeWithSelector(IAgentTabEscrow.MalformedClaim.selector, 0)
        );
    }
}
