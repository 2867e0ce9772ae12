// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {AgentTabEscrow} from "../../contracts/AgentTabEscrow.sol";
import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {IUSDC} from "../../contracts/interfaces/IUSDC.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {Vm, vm} from "./base/Vm.sol";

contract SettleTest is EscrowTestBase {
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function setUp() public override {
        super.setUp();
        _fund(alice, 100e6);
        _fund(bob, 100e6);
    }

    // Success paths -------------------------------------------------------------------------------

    function test_settle_claimsVoucherAndCreditsProviderAndFee() public {
        bytes memory claims = abi.encodePacked(_ownClaim(ALICE_KEY, 10e6), _ownClaim(BOB_KEY, 5e6));
        IAgentTabEscrow.Payout[] memory p = new IAgentTabEscrow.Payout[](2);
        p[0] = IAgentTabEscrow.Payout(provider1, 9e6, 90, 3);
        p[1] = IAgentTabEscrow.Payout(provider2, 5_850_000, 40, 0);
        uint256 fee = 150_000; // exactly 1% of 15e6

        vm.recordLogs();
        vm.prank(settler);
        assertTrue(escrow.settle("week-1", claims, p, fee), "applied");

        assertEq(_balance(alice), 90e6, "alice debited");
        assertEq(_balance(bob), 95e6, "bob debited");
        assertEq(escrow.accountOf(alice).claimed, 10e6, "alice claimed");
        assertEq(escrow.earningsOf(provider1), 9e6, "provider1");
        assertEq(escrow.earningsOf(provider2), 5_850_000, "provider2");
        assertEq(escrow.accruedFees(), fee, "fee");
        assertTrue(escrow.batchSettled("week-1"), "batch recorded");
        _assertSolvent();

        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes memory expectedLog = abi.encodePacked(
            uint8(0), alice, uint128(10e6), uint128(10e6), uint8(0), bob, uint128(5e6), uint128(5e6)
        );
        bool sawBatch;
        uint256 credits;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == IAgentTabEscrow.BatchSettled.selector) {
                sawBatch = true;
                assertEq(logs[i].topics[1], bytes32("week-1"), "batch id topic");
                assertEq(logs[i].data, abi.encode(uint256(15e6), fee, uint256(2), expectedLog), "batch data");
            } else if (logs[i].topics[0] == IAgentTabEscrow.ProviderCredited.selector) {
                ++credits;
            }
        }
        assertTrue(sawBatch, "BatchSettled emitted");
        assertEq(credits, 2, "one ProviderCredited per payout");
    }

    function test_settle_providerCreditCarriesCallCounts() public {
        IAgentTabEscrow.Payout[] memory p = new IAgentTabEscrow.Payout[](1);
        p[0] = IAgentTabEscrow.Payout(provider1, 990_000, 12, 4);
        bytes memory claim = _ownClaim(ALICE_KEY, 1e6);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IAgentTabEscrow.ProviderCredited("b", provider1, 990_000, 12, 4, 990_000);
        vm.prank(settler);
        escrow.settle("b", claim, p, 10_000);
    }

    function test_settle_newerVoucherChargesOnlyTheDelta() public {
        _settleTo("b1", _ownClaim(ALICE_KEY, 3e6), provider1, 3e6);
        _settleTo("b2", _ownClaim(ALICE_KEY, 7e6), provider1, 4e6);
        assertEq(_balance(alice), 93e6, "debited 3 + 4");
        assertEq(escrow.accountOf(alice).claimed, 7e6, "claimed total");
    }

    function test_settle_claimsLessThanTheVoucherAllows() public {
        bytes memory claim = _encodeClaim(alice, alice, 10e6, 4e6, _signVoucher(ALICE_KEY, alice, 10e6));
        _settleTo("b1", claim, provider1, 4e6);
        assertEq(_balance(alice), 96e6, "only the charged amount");
        // The same voucher can later be claimed further, up to its maximum.
        bytes memory more = _encodeClaim(alice, alice, 10e6, 10e6, _signVoucher(ALICE_KEY, alice, 10e6));
        _settleTo("b2", more, provider1, 6e6);
        assertEq(_balance(alice), 90e6, "up to the voucher");
    }

    function test_settle_repeatedBatchIsANoOp() public {
        bytes memory claim = _ownClaim(ALICE_KEY, 2e6);
        assertTrue(_settleTo("same", claim, provider1, 2e6), "first applies");
        assertFalse(_settleTo("same", claim, provider1, 2e6), "second is a no-op");
        assertEq(_balance(alice), 98e6, "debited once");
        assertEq(escrow.earningsOf(provider1), 1_980_000, "credited once");
    }

    function test_settle_sameAccountTwiceInOneBatch() public {
        bytes memory claims = abi.encodePacked(_ownClaim(ALICE_KEY, 2e6), _ownClaim(ALICE_KEY, 5e6));
        _settleTo("b", claims, provider1, 5e6);
        assertEq(_balance(alice), 95e6, "debits 2 then 3");
    }

    function test_settle_duringPendingWithdrawal() public {
        vm.prank(alice);
        escrow.requestWithdrawal(100e6);
        _settleTo("b", _ownClaim(ALICE_KEY, 30e6), provider1, 30e6);
        assertEq(_balance(alice), 70e6, "claimed during the delay");
    }

    function test_settle_reputationOnlyBatchWithNoClaims() public {
        IAgentTabEscrow.Payout[] memory p = new IAgentTabEscrow.Payout[](1);
        p[0] = IAgentTabEscrow.Payout(provider1, 0, 0, 9);
        vm.prank(settler);
        assertTrue(escrow.settle("failures", "", p, 0), "applied");
        assertEq(escrow.earningsOf(provider1), 0, "nothing credited");
    }

    // Delegates -----------------------------------------------------------------------------------

    function test_settle_delegateClaimWithinCap() public {
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        _settleTo("b", _delegateClaim(alice, HOT_KEY, 4e6, 4e6), provider1, 4e6);
        assertEq(_balance(alice), 96e6, "owner account debited");
        assertEq(escrow.delegationOf(alice, hot).claimed, 4e6, "delegate track");
        assertEq(escrow.accountOf(alice).claimed, 0, "owner track untouched");
    }

    function test_settle_delegateAndOwnerTracksAreIndependent() public {
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        bytes memory claims = abi.encodePacked(_ownClaim(ALICE_KEY, 3e6), _delegateClaim(alice, HOT_KEY, 2e6, 2e6));
        _settleTo("b", claims, provider1, 5e6);
        assertEq(_balance(alice), 95e6, "both debited");
    }

    function test_settle_revertsWhenDelegateVoucherAboveCap() public {
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        bytes memory claim = _delegateClaim(alice, HOT_KEY, 50e6, 6e6);
        _settleExpectRevert(
            claim, 6e6, abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveDelegateCap.selector, alice, hot, 5e6, 6e6)
        );
    }

    function test_settle_claimsAnExpiredDelegateWithinTheGrace() public {
        uint40 expiry = uint40(block.timestamp + 1 days);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, expiry);
        vm.warp(uint256(expiry) + WITHDRAWAL_DELAY - 1);
        _settleTo("b", _delegateClaim(alice, HOT_KEY, 1e6, 1e6), provider1, 1e6);
        assertEq(escrow.delegationOf(alice, hot).claimed, 1e6, "spent before the expiry, claimed after it");
    }

    function test_settle_revertsWhenDelegateExpired() public {
        uint40 expiry = uint40(block.timestamp + 1 days);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, expiry);
        vm.warp(uint256(expiry) + WITHDRAWAL_DELAY);
        _settleExpectRevert(
            _delegateClaim(alice, HOT_KEY, 1e6, 1e6),
            1e6,
            abi.encodeWithSelector(IAgentTabEscrow.DelegateExpired.selector, alice, hot, expiry)
        );
    }

    function test_settle_revertsWhenDelegateNeverAuthorized() public {
        _settleExpectRevert(
            _delegateClaim(alice, MALLORY_KEY, 1e6, 1e6),
            1e6,
            abi.encodeWithSelector(IAgentTabEscrow.DelegateNotActive.selector, alice, mallory)
        );
    }

    // Rejections ----------------------------------------------------------------------------------

    function test_settle_revertsWhenClaimAboveVoucher() public {
        bytes memory claim = _encodeClaim(alice, alice, 5e6, 6e6, _signVoucher(ALICE_KEY, alice, 5e6));
        _settleExpectRevert(
            claim, 6e6, abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveVoucher.selector, alice, alice, 5e6, 6e6)
        );
    }

    function test_settle_revertsWhenClaimBelowClaimed() public {
        _settleTo("b1", _ownClaim(ALICE_KEY, 5e6), provider1, 5e6);
        _settleExpectRevert(
            _ownClaim(ALICE_KEY, 4e6),
            0,
            abi.encodeWithSelector(IAgentTabEscrow.ClaimBelowClaimed.selector, alice, alice, 5e6, 4e6)
        );
    }

    function test_settle_revertsOnSignatureByAnotherKey() public {
        bytes memory claim = _encodeClaim(alice, alice, 5e6, 5e6, _signVoucher(MALLORY_KEY, alice, 5e6));
        _settleExpectRevert(
            claim, 5e6, abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, alice, alice)
        );
    }

    function test_settle_revertsOnVoucherForAnotherAccount() public {
        // Bob's voucher cannot be replayed against Alice's account.
        bytes memory claim = _encodeClaim(alice, alice, 5e6, 5e6, _signVoucher(BOB_KEY, bob, 5e6));
        _settleExpectRevert(
            claim, 5e6, abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, alice, alice)
        );
    }

    function test_settle_revertsOnVoucherFromAnotherEscrow() public {
        AgentTabEscrow other =
            new AgentTabEscrow(IUSDC(address(usdc)), admin, ADMIN_DELAY, MAX_FEE_BPS, FEE_BPS, WITHDRAWAL_DELAY);
        bytes memory sig = _sign(ALICE_KEY, other.voucherDigest(alice, 5e6));
        _settleExpectRevert(
            _encodeClaim(alice, alice, 5e6, 5e6, sig),
            5e6,
            abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, alice, alice)
        );
    }

    function test_settle_revertsOnMalleableSignature() public {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ALICE_KEY, escrow.voucherDigest(alice, 5e6));
        bytes memory flipped = abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        _settleExpectRevert(
            _encodeClaim(alice, alice, 5e6, 5e6, flipped),
            5e6,
            abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, alice, alice)
        );
    }

    function test_settle_revertsOnZeroSignature() public {
        _settleExpectRevert(
            _encodeClaim(alice, alice, 5e6, 5e6, new bytes(65)),
            5e6,
            abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, alice, alice)
        );
    }

    function test_settle_revertsWhenBalanceShort() public {
        _settleExpectRevert(
            _ownClaim(ALICE_KEY, 101e6),
            101e6,
            abi.encodeWithSelector(IAgentTabEscrow.InsufficientBalance.selector, alice, 100e6, 101e6)
        );
    }

    function test_settle_revertsWhenUnbalanced() public {
        IAgentTabEscrow.Payout[] memory p = _payouts(provider1, 5e6); // the fee comes on top
        bytes memory claim = _ownClaim(ALICE_KEY, 5e6);
        vm.prank(settler);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.BatchUnbalanced.selector, 5e6, 5e6 + 1));
        escrow.settle("b", claim, p, 1);
    }

    function test_settle_revertsWhenFeeAboveRate() public {
        IAgentTabEscrow.Payout[] memory p = _payouts(provider1, 4e6);
        bytes memory claim = _ownClaim(ALICE_KEY, 5e6);
        vm.prank(settler);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.FeeAboveRate.selector, 1e6, 50_000));
        escrow.settle("b", claim, p, 1e6);
    }

    function test_settle_revertsForNonSettler() public {
        bytes memory claim = _ownClaim(ALICE_KEY, 1e6);
        bytes32 role = escrow.SETTLER_ROLE();
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, mallory, role));
        escrow.settle("b", claim, _payouts(provider1, 990_000), 10_000);
    }

    function test_settle_revertsWhenPaused() public {
        vm.prank(pauser);
        escrow.pause();
        _settleExpectRevert(_ownClaim(ALICE_KEY, 1e6), 1e6, abi.encodeWithSignature("EnforcedPause()"));
    }

    function test_settle_revertsOnEmptyBatch() public {
        vm.prank(settler);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.EmptyBatch.selector));
        escrow.settle("b", "", new IAgentTabEscrow.Payout[](0), 0);
    }

    function test_settle_revertsOnTruncatedClaims() public {
        bytes memory claim = _ownClaim(ALICE_KEY, 1e6);
        bytes memory truncated = new bytes(claim.length - 1);
        for (uint256 i; i < truncated.length; ++i) {
            truncated[i] = claim[i];
        }
        bytes memory claims = abi.encodePacked(_ownClaim(BOB_KEY, 1e6), truncated);
        _settleExpectRevert(claims, 2e6, abi.encodeWithSelector(IAgentTabEscrow.MalformedClaim.selector, claim.length));
    }

    function test_settle_revertsOnReservedFlag() public {
        bytes memory claim = _ownClaim(ALICE_KEY, 1e6);
        claim[0] = bytes1(uint8(2));
        _settleExpectRevert(claim, 1e6, abi.encodeWithSelector(IAgentTabEscrow.MalformedClaim.selector, 0));
    }

    function test_settle_revertsOnZeroProvider() public {
        bytes memory claim = _ownClaim(ALICE_KEY, 1e6);
        vm.prank(settler);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAddress.selector));
        escrow.settle("b", claim, _payouts(address(0), 990_000), 10_000);
    }

    // Fuzz ----------------------------------------------------------------------------------------

    function testFuzz_settle_debitsExactlyTheDelta(uint128 first, uint128 second, uint128 signedMax) public {
        uint256 a = bound(first, 0, 100e6);
        uint256 b = bound(second, a, 100e6);
        uint256 max = bound(signedMax, b, type(uint128).max);
        if (a > 0) {
            bytes memory c1 = _encodeClaim(alice, alice, max, a, _signVoucher(ALICE_KEY, alice, max));
            _settleTo("f1", c1, provider1, a);
        }
        bytes memory c2 = _encodeClaim(alice, alice, max, b, _signVoucher(ALICE_KEY, alice, max));
        _settleTo("f2", c2, provider1, b - a);
        assertEq(_balance(alice), 100e6 - b, "debited the cumulative total");
        assertEq(escrow.earningsOf(provider1) + escrow.accruedFees(), b, "credits equal debits");
        _assertSolvent();
    }

    function testFuzz_settle_neverClaimsBeyondTheVoucher(uint128 signedMax, uint128 attempted) public {
        uint256 max = bound(signedMax, 0, 100e6 - 1);
        uint256 claimed = bound(attempted, max + 1, type(uint128).max);
        bytes memory claim = _encodeClaim(alice, alice, max, claimed, _signVoucher(ALICE_KEY, alice, max));
        IAgentTabEscrow.Payout[] memory p = _payouts(provider1, 0);
        vm.prank(settler);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveVoucher.selector, alice, alice, max, claimed)
        );
        escrow.settle("f", claim, p, 0);
    }

    function testFuzz_settle_delegateNeverBeyondCap(uint96 capSeed, uint128 claimSeed, uint128 signedSeed) public {
        uint256 cap = bound(capSeed, 0, 100e6);
        uint256 claimed = bound(claimSeed, 1, 100e6);
        uint256 signed = bound(signedSeed, claimed, type(uint128).max);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, uint96(cap), 0);
        bytes memory claim = _delegateClaim(alice, HOT_KEY, signed, claimed);
        (uint256 share, uint256 fee) = _split(claimed);
        IAgentTabEscrow.Payout[] memory p = _payouts(provider1, share);
        vm.prank(settler);
        if (claimed > cap) {
            vm.expectRevert(
                abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveDelegateCap.selector, alice, hot, cap, claimed)
            );
        }
        escrow.settle("f", claim, p, fee);
        assertLe(escrow.delegationOf(alice, hot).claimed, cap, "delegate track within cap");
        assertEq(_balance(alice), claimed > cap ? 100e6 : 100e6 - claimed, "account debited only within cap");
    }

    function testFuzz_settle_feeWithinRate(uint128 debitedSeed, uint128 feeSeed) public {
        uint256 debited = bound(debitedSeed, 1, 100e6);
        uint256 fee = bound(feeSeed, 0, debited);
        uint256 maxFee = debited * FEE_BPS / 10_000;
        IAgentTabEscrow.Payout[] memory p = _payouts(provider1, debited - fee);
        bytes memory claim = _ownClaim(ALICE_KEY, debited);
        vm.prank(settler);
        if (fee > maxFee) {
            vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.FeeAboveRate.selector, fee, maxFee));
        }
        escrow.settle("f", claim, p, fee);
        if (fee <= maxFee) assertEq(escrow.accruedFees(), fee, "fee accrued");
    }
}
