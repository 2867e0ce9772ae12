// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {AgentTabEscrow} from "../../contracts/AgentTabEscrow.sol";
import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {IUSDC} from "../../contracts/interfaces/IUSDC.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {Vm, vm} from "./base/Vm.sol";

/// @notice Claims, tracks and rejections. Which provider a claim pays, the fee per provider and
/// the provider reports are in SettleProviders.t.sol; ERC-1271 signers in SettleSmartWallet.t.sol.
contract SettleTest is EscrowTestBase {
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function setUp() public override {
        super.setUp();
        _fund(alice, 100e6);
        _fund(bob, 100e6);
    }

    // Success paths -------------------------------------------------------------------------------

    function test_settle_claimsVoucherAndCreditsProviderAndFee() public {
        bytes memory claims =
            abi.encodePacked(_ownClaimTo(ALICE_KEY, provider1, 0, 10e6), _ownClaimTo(BOB_KEY, provider2, 1, 5e6));
        IAgentTabEscrow.ProviderReport[] memory r = _reports(provider1, provider2);
        r[0].callsServed = 90;
        r[0].callsFailed = 3;
        r[1].callsServed = 40;
        uint256 fee = 100_000 + 50_000; // 1% of each provider's gross

        vm.recordLogs();
        vm.prank(settler);
        assertTrue(escrow.settle("week-1", claims, r), "applied");

        assertEq(_balance(alice), 90e6, "alice debited");
        assertEq(_balance(bob), 95e6, "bob debited");
        assertEq(escrow.accountOf(alice).claimed, 10e6, "alice claimed");
        assertEq(escrow.claimedOf(alice, alice, provider1), 10e6, "alice's track to provider1");
        assertEq(escrow.claimedOf(bob, bob, provider2), 5e6, "bob's track to provider2");
        assertEq(escrow.earningsOf(provider1), 9_900_000, "provider1");
        assertEq(escrow.earningsOf(provider2), 4_950_000, "provider2");
        assertEq(escrow.accruedFees(), fee, "fee");
        assertTrue(escrow.batchSettled("week-1"), "batch recorded");
        _assertSolvent();

        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes memory expectedLog = abi.encodePacked(
            abi.encodePacked(uint8(0), alice, provider1, uint128(10e6), uint128(10e6)),
            abi.encodePacked(uint8(0), bob, provider2, uint128(5e6), uint128(5e6))
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
        assertEq(credits, 2, "one ProviderCredited per report");
    }

    function test_settle_providerCreditCarriesCallCounts() public {
        IAgentTabEscrow.ProviderReport[] memory r = _reports(provider1);
        r[0].callsServed = 12;
        r[0].callsFailed = 4;
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IAgentTabEscrow.ProviderCredited("b", provider1, 990_000, 12, 4, 990_000);
        _settleWith("b", _ownClaim(ALICE_KEY, 1e6), r);
    }

    function test_settle_newerVoucherChargesOnlyTheDelta() public {
        _settle("b1", _ownClaim(ALICE_KEY, 3e6));
        _settle("b2", _ownClaim(ALICE_KEY, 7e6));
        assertEq(_balance(alice), 93e6, "debited 3 + 4");
        assertEq(escrow.accountOf(alice).claimed, 7e6, "claimed total");
        assertEq(escrow.claimedOf(alice, alice, provider1), 7e6, "track total");
    }

    function test_settle_claimsLessThanTheVoucherAllows() public {
        bytes memory sig = _signVoucher(ALICE_KEY, alice, provider1, 10e6);
        _settle("b1", _encodeClaim(alice, alice, 0, 10e6, 4e6, sig));
        assertEq(_balance(alice), 96e6, "only the charged amount");
        // The same voucher can later be claimed further, up to its maximum.
        _settle("b2", _encodeClaim(alice, alice, 0, 10e6, 10e6, sig));
        assertEq(_balance(alice), 90e6, "up to the voucher");
    }

    function test_settle_repeatedBatchIsANoOp() public {
        bytes memory claim = _ownClaim(ALICE_KEY, 2e6);
        assertTrue(_settle("same", claim), "first applies");
        assertFalse(_settle("same", claim), "second is a no-op");
        assertEq(_balance(alice), 98e6, "debited once");
        assertEq(escrow.earningsOf(provider1), 1_980_000, "credited once");
    }

    function test_settle_sameTrackTwiceInOneBatch() public {
        bytes memory claims = abi.encodePacked(_ownClaim(ALICE_KEY, 2e6), _ownClaim(ALICE_KEY, 5e6));
        _settle("b", claims);
        assertEq(_balance(alice), 95e6, "debits 2 then 3");
        assertEq(escrow.accountOf(alice).claimed, 5e6, "claimed total");
    }

    function test_settle_duringPendingWithdrawal() public {
        vm.prank(alice);
        escrow.requestWithdrawal(100e6);
        _settle("b", _ownClaim(ALICE_KEY, 30e6));
        assertEq(_balance(alice), 70e6, "claimed during the delay");
    }

    function test_settle_reputationOnlyBatchWithNoClaims() public {
        IAgentTabEscrow.ProviderReport[] memory r = _reports(provider1);
        r[0].callsServed = 0;
        r[0].callsFailed = 9;
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IAgentTabEscrow.ProviderCredited("failures", provider1, 0, 0, 9, 0);
        assertTrue(_settleWith("failures", "", r), "applied");
        assertEq(escrow.earningsOf(provider1), 0, "nothing credited");
    }

    // Consecutive claims of one account (the fast path keeps the account's slot between them) ---

    function test_settle_ownClaimsOfOneAccountSeeEachOthersDebits() public {
        bytes memory claims =
            abi.encodePacked(_ownClaimTo(ALICE_KEY, provider1, 0, 60e6), _ownClaimTo(ALICE_KEY, provider2, 1, 50e6));
        _settleExpectRevert(
            claims,
            _reports(provider1, provider2),
            abi.encodeWithSelector(IAgentTabEscrow.InsufficientBalance.selector, alice, 40e6, 50e6)
        );
    }

    function test_settle_delegateClaimSeesTheOwnClaimsBeforeIt() public {
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 100e6, 0);
        bytes memory claims = abi.encodePacked(_ownClaim(ALICE_KEY, 60e6), _delegateClaim(alice, HOT_KEY, 50e6, 50e6));
        _settleExpectRevert(
            claims, abi.encodeWithSelector(IAgentTabEscrow.InsufficientBalance.selector, alice, 40e6, 50e6)
        );
    }

    function test_settle_ownClaimsAroundADelegateClaim() public {
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 100e6, 0);
        bytes memory claims = abi.encodePacked(
            _ownClaimTo(ALICE_KEY, provider1, 0, 30e6),
            _delegateClaimTo(alice, HOT_KEY, provider1, 0, 20e6, 20e6),
            _ownClaimTo(ALICE_KEY, provider2, 1, 10e6),
            _ownClaimTo(BOB_KEY, provider2, 1, 1e6),
            _ownClaimTo(ALICE_KEY, provider1, 0, 35e6)
        );
        _settleWith("b", claims, _reports(provider1, provider2));
        assertEq(_balance(alice), 100e6 - 35e6 - 20e6 - 10e6, "alice debited every claim once");
        assertEq(escrow.accountOf(alice).claimed, 65e6, "alice's claimed total");
        assertEq(_balance(bob), 99e6, "bob");
        assertEq(escrow.claimedOf(alice, alice, provider1), 35e6, "alice's track 1");
        assertEq(escrow.claimedOf(alice, alice, provider2), 10e6, "alice's track 2");
        assertEq(escrow.claimedOf(alice, hot, provider1), 20e6, "delegate's track 1");
        (uint256 credit1,) = _split(55e6);
        (uint256 credit2,) = _split(11e6);
        assertEq(escrow.earningsOf(provider1), credit1, "provider1");
        assertEq(escrow.earningsOf(provider2), credit2, "provider2");
        _assertSolvent();
    }

    // Delegates -----------------------------------------------------------------------------------

    function test_settle_delegateClaimWithinCap() public {
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        _settle("b", _delegateClaim(alice, HOT_KEY, 4e6, 4e6));
        assertEq(_balance(alice), 96e6, "owner account debited");
        assertEq(escrow.delegationOf(alice, hot).claimed, 4e6, "delegate total");
        assertEq(escrow.claimedOf(alice, hot, provider1), 4e6, "delegate track");
        assertEq(escrow.claimedOf(alice, alice, provider1), 0, "owner track untouched");
        assertEq(escrow.accountOf(alice).claimed, 4e6, "account total counts every signer");
    }

    function test_settle_delegateAndOwnerTracksAreIndependent() public {
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        bytes memory claims = abi.encodePacked(_ownClaim(ALICE_KEY, 3e6), _delegateClaim(alice, HOT_KEY, 2e6, 2e6));
        _settle("b", claims);
        assertEq(_balance(alice), 95e6, "both debited");
        assertEq(escrow.claimedOf(alice, alice, provider1), 3e6, "owner track");
        assertEq(escrow.claimedOf(alice, hot, provider1), 2e6, "delegate track");
        assertEq(escrow.accountOf(alice).claimed, 5e6, "account total");
    }

    function test_settle_revertsWhenDelegateVoucherAboveCap() public {
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        _settleExpectRevert(
            _delegateClaim(alice, HOT_KEY, 50e6, 6e6),
            abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveDelegateCap.selector, alice, hot, 5e6, 6e6)
        );
    }

    function test_settle_claimsAnExpiredDelegateWithinTheGrace() public {
        uint40 expiry = uint40(block.timestamp + 1 days);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, expiry);
        vm.warp(uint256(expiry) + WITHDRAWAL_DELAY - 1);
        _settle("b", _delegateClaim(alice, HOT_KEY, 1e6, 1e6));
        assertEq(escrow.delegationOf(alice, hot).claimed, 1e6, "spent before the expiry, claimed after it");
    }

    function test_settle_revertsWhenDelegateExpired() public {
        uint40 expiry = uint40(block.timestamp + 1 days);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, expiry);
        vm.warp(uint256(expiry) + WITHDRAWAL_DELAY);
        _settleExpectRevert(
            _delegateClaim(alice, HOT_KEY, 1e6, 1e6),
            abi.encodeWithSelector(IAgentTabEscrow.DelegateExpired.selector, alice, hot, expiry)
        );
    }

    function test_settle_revertsWhenDelegateNeverAuthorized() public {
        _settleExpectRevert(
            _delegateClaim(alice, MALLORY_KEY, 1e6, 1e6),
            abi.encodeWithSelector(IAgentTabEscrow.DelegateNotActive.selector, alice, mallory)
        );
    }

    function test_settle_revertsWhenAnOwnVoucherIsClaimedAsTheOwnersDelegate() public {
        // flags = 1 with signer == account: the owner is never its own delegate.
        bytes memory claim = abi.encodePacked(
            uint8(1), alice, alice, uint16(0), uint128(1e6), uint128(1e6), uint16(65),
            _signVoucher(ALICE_KEY, alice, provider1, 1e6)
        );
        _settleExpectRevert(claim, abi.encodeWithSelector(IAgentTabEscrow.DelegateNotActive.selector, alice, alice));
    }

    // Rejections ----------------------------------------------------------------------------------

    function test_settle_revertsWhenClaimAboveVoucher() public {
        bytes memory claim = _encodeClaim(alice, alice, 0, 5e6, 6e6, _signVoucher(ALICE_KEY, alice, provider1, 5e6));
        _settleExpectRevert(
            claim, abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveVoucher.selector, alice, alice, 5e6, 6e6)
        );
    }

    function test_settle_revertsWhenClaimBelowClaimed() public {
        _settle("b1", _ownClaim(ALICE_KEY, 5e6));
        _settleExpectRevert(
            _ownClaim(ALICE_KEY, 4e6),
            abi.encodeWithSelector(IAgentTabEscrow.ClaimBelowClaimed.selector, alice, alice, 5e6, 4e6)
        );
    }

    function test_settle_revertsOnSignatureByAnotherKey() public {
        bytes memory claim =
            _encodeClaim(alice, alice, 0, 5e6, 5e6, _signVoucherAs(MALLORY_KEY, alice, alice, provider1, 5e6));
        _settleExpectRevert(claim, abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, alice, alice));
    }

    function test_settle_revertsOnVoucherForAnotherAccount() public {
        // Bob's voucher cannot be replayed against Alice's account.
        bytes memory claim = _encodeClaim(alice, alice, 0, 5e6, 5e6, _signVoucher(BOB_KEY, bob, provider1, 5e6));
        _settleExpectRevert(claim, abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, alice, alice));
    }

    function test_settle_revertsOnVoucherFromAnotherEscrow() public {
        AgentTabEscrow other =
            new AgentTabEscrow(IUSDC(address(usdc)), admin, ADMIN_DELAY, MAX_FEE_BPS, FEE_BPS, WITHDRAWAL_DELAY);
        bytes memory sig = _sign(ALICE_KEY, other.voucherDigest(alice, alice, provider1, 5e6));
        _settleExpectRevert(
            _encodeClaim(alice, alice, 0, 5e6, 5e6, sig),
            abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, alice, alice)
        );
    }

    function test_settle_revertsOnMalleableSignature() public {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ALICE_KEY, escrow.voucherDigest(alice, alice, provider1, 5e6));
        bytes memory flipped = abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        _settleExpectRevert(
            _encodeClaim(alice, alice, 0, 5e6, 5e6, flipped),
            abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, alice, alice)
        );
    }

    function test_settle_revertsOnZeroSignature() public {
        _settleExpectRevert(
            _encodeClaim(alice, alice, 0, 5e6, 5e6, new bytes(65)),
            abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, alice, alice)
        );
    }

    function test_settle_revertsWhenBalanceShort() public {
        _settleExpectRevert(
            _ownClaim(ALICE_KEY, 101e6),
            abi.encodeWithSelector(IAgentTabEscrow.InsufficientBalance.selector, alice, 100e6, 101e6)
        );
    }

    function test_settle_revertsForNonSettler() public {
        bytes memory claim = _ownClaim(ALICE_KEY, 1e6);
        IAgentTabEscrow.ProviderReport[] memory r = _reports(provider1);
        bytes32 role = escrow.SETTLER_ROLE();
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, mallory, role));
        escrow.settle("b", claim, r);
    }

    function test_settle_revertsWhenPaused() public {
        vm.prank(pauser);
        escrow.pause();
        _settleExpectRevert(_ownClaim(ALICE_KEY, 1e6), abi.encodeWithSignature("EnforcedPause()"));
    }

    function test_settle_revertsOnEmptyBatch() public {
        _settleExpectRevert(
            "", new IAgentTabEscrow.ProviderReport[](0), abi.encodeWithSelector(IAgentTabEscrow.EmptyBatch.selector)
        );
    }

    function test_settle_revertsOnTruncatedClaims() public {
        bytes memory claim = _ownClaim(ALICE_KEY, 1e6);
        bytes memory truncated = new bytes(claim.length - 1);
        for (uint256 i; i < truncated.length; ++i) {
            truncated[i] = claim[i];
        }
        bytes memory claims = abi.encodePacked(_ownClaim(BOB_KEY, 1e6), truncated);
        _settleExpectRevert(claims, abi.encodeWithSelector(IAgentTabEscrow.MalformedClaim.selector, claim.length));
    }

    function test_settle_revertsOnReservedFlag() public {
        bytes memory claim = _ownClaim(ALICE_KEY, 1e6);
        claim[0] = bytes1(uint8(2));
        _settleExpectRevert(claim, abi.encodeWithSelector(IAgentTabEscrow.MalformedClaim.selector, 0));
    }

    // Fuzz ----------------------------------------------------------------------------------------

    function testFuzz_settle_debitsExactlyTheDelta(uint128 first, uint128 second, uint128 signedMax) public {
        uint256 a = bound(first, 0, 100e6);
        uint256 b = bound(second, a, 100e6);
        uint256 max = bound(signedMax, b, type(uint128).max);
        bytes memory sig = _signVoucher(ALICE_KEY, alice, provider1, max);
        if (a > 0) _settle("f1", _encodeClaim(alice, alice, 0, max, a, sig));
        _settle("f2", _encodeClaim(alice, alice, 0, max, b, sig));
        assertEq(_balance(alice), 100e6 - b, "debited the cumulative total");
        assertEq(escrow.claimedOf(alice, alice, provider1), b, "track total");
        assertEq(escrow.earningsOf(provider1) + escrow.accruedFees(), b, "credits equal debits");
        _assertSolvent();
    }

    function testFuzz_settle_neverClaimsBeyondTheVoucher(uint128 signedMax, uint128 attempted) public {
        uint256 max = bound(signedMax, 0, 100e6 - 1);
        uint256 claimed = bound(attempted, max + 1, type(uint128).max);
        bytes memory claim = _encodeClaim(alice, alice, 0, max, claimed, _signVoucher(ALICE_KEY, alice, provider1, max));
        _settleExpectRevert(
            claim, abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveVoucher.selector, alice, alice, max, claimed)
        );
    }

    function testFuzz_settle_delegateNeverBeyondCap(uint96 capSeed, uint128 claimSeed, uint128 signedSeed) public {
        uint256 cap = bound(capSeed, 0, 100e6);
        uint256 claimed = bound(claimSeed, 1, 100e6);
        uint256 signed = bound(signedSeed, claimed, type(uint128).max);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, uint96(cap), 0);
        bytes memory claim = _delegateClaim(alice, HOT_KEY, signed, claimed);
        if (claimed > cap) {
            _settleExpectRevert(
                claim, abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveDelegateCap.selector, alice, hot, cap, claimed)
            );
        } else {
            _settle("f", claim);
        }
        assertLe(escrow.delegationOf(alice, hot).claimed, cap, "delegate total within cap");
        assertEq(_balance(alice), claimed > cap ? 100e6 : 100e6 - claimed, "account debited only within cap");
    }
}
