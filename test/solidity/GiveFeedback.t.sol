// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentTabReputation} from "../../contracts/AgentTabReputation.sol";
import {IAgentTabReputation} from "../../contracts/interfaces/IAgentTabReputation.sol";
import {MockSmartWallet} from "../../contracts/mocks/MockSmartWallet.sol";
import {ReputationTestBase} from "./base/ReputationTestBase.sol";
import {Vm, vm} from "./base/Vm.sol";

contract GiveFeedbackTest is ReputationTestBase {
    function _expectRevert(
        IAgentTabReputation.Receipt memory receipt,
        bytes memory receiptSignature,
        uint8 score,
        string[] memory tags,
        bytes memory revertData
    ) internal {
        vm.prank(receipt.payer);
        vm.expectRevert(revertData);
        reputation.giveFeedback(receipt, receiptSignature, score, tags);
    }

    // Success paths -------------------------------------------------------------------------------

    function test_giveFeedback_recordsAndEmits() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 25_000);
        string[] memory tags = _tags("fast", "accurate");
        bytes memory signature = _signReceipt(PROXY_KEY, receipt);
        vm.expectEmit(true, true, true, true, address(reputation));
        emit IAgentTabReputation.FeedbackGiven(provider1, SERVICE, alice, receipt.requestId, 87, tags, 25_000);
        vm.prank(alice);
        reputation.giveFeedback(receipt, signature, 87, tags);
        assertTrue(reputation.feedbackGiven(receipt.requestId), "recorded");
    }

    function test_giveFeedback_acceptsTheScoreAndTagLimits() public {
        _giveFeedback(_receipt(alice, 1), 0, new string[](0));
        _giveFeedback(_receipt(alice, 1), 100, _tagsOf(5, 32));
    }

    function test_giveFeedback_eachCallOfOnePayerCarriesItsOwnFeedback() public {
        IAgentTabReputation.Receipt memory first = _receipt(alice, 1_000);
        IAgentTabReputation.Receipt memory second = _receipt(alice, 2_000);
        _giveFeedback(first, 10, _tags("slow"));
        _giveFeedback(second, 90, _tags("fast"));
        assertTrue(reputation.feedbackGiven(first.requestId), "first");
        assertTrue(reputation.feedbackGiven(second.requestId), "second");
    }

    function test_giveFeedback_acceptsAnyAllowedReceiptSigner() public {
        uint256 secondProxyKey = 0x9808;
        vm.prank(admin);
        reputation.setReceiptSigner(vm.addr(secondProxyKey), true);
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        bytes memory signature = _signReceipt(secondProxyKey, receipt);
        vm.prank(alice);
        reputation.giveFeedback(receipt, signature, 50, _tags("ok"));
        assertTrue(reputation.feedbackGiven(receipt.requestId), "recorded");
    }

    function test_giveFeedback_smartWalletPayerCallsItself() public {
        MockSmartWallet wallet = new MockSmartWallet(alice);
        IAgentTabReputation.Receipt memory receipt = _receipt(address(wallet), 5);
        bytes memory signature = _signReceipt(PROXY_KEY, receipt);
        vm.prank(alice);
        wallet.execute(address(reputation), abi.encodeCall(reputation.giveFeedback, (receipt, signature, 70, _tags("ok"))));
        assertTrue(reputation.feedbackGiven(receipt.requestId), "recorded");
    }

    // Who may rate --------------------------------------------------------------------------------

    function test_giveFeedback_revertsWhenNotPayer() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        bytes memory signature = _signReceipt(PROXY_KEY, receipt);
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabReputation.NotPayer.selector, mallory, alice));
        reputation.giveFeedback(receipt, signature, 100, _tags("great"));
    }

    function test_giveFeedback_revertsWhenProviderRatesItself() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        bytes memory signature = _signReceipt(PROXY_KEY, receipt);
        vm.prank(provider1);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabReputation.NotPayer.selector, provider1, alice));
        reputation.giveFeedback(receipt, signature, 100, _tags("great"));
    }

    // Bounds --------------------------------------------------------------------------------------

    function test_giveFeedback_revertsWhenScoreAbove100() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        _expectRevert(
            receipt,
            _signReceipt(PROXY_KEY, receipt),
            101,
            _tags("ok"),
            abi.encodeWithSelector(IAgentTabReputation.ScoreOutOfRange.selector, 101, 100)
        );
    }

    function test_giveFeedback_revertsWhenTooManyTags() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        _expectRevert(
            receipt,
            _signReceipt(PROXY_KEY, receipt),
            50,
            _tagsOf(6, 1),
            abi.encodeWithSelector(IAgentTabReputation.TooManyTags.selector, 6, 5)
        );
    }

    function test_giveFeedback_revertsWhenTagTooLong() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        string[] memory tags = _tags("ok", "a tag that runs past thirty-two bytes");
        _expectRevert(
            receipt,
            _signReceipt(PROXY_KEY, receipt),
            50,
            tags,
            abi.encodeWithSelector(IAgentTabReputation.TagTooLong.selector, 1, 37, 32)
        );
    }

    /// @dev Any score and tag shape: accepted exactly when within the limits, otherwise refused with
    /// the first limit it breaks (score, then tag count, then tag length).
    function testFuzz_giveFeedback_scoreAndTagBounds(uint8 score, uint256 count, uint256 length) public {
        count = bound(count, 0, 8);
        length = bound(length, 0, 48);
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        string[] memory tags = _tagsOf(count, length);
        bytes memory signature = _signReceipt(PROXY_KEY, receipt);
        bytes memory expected;
        if (score > 100) {
            expected = abi.encodeWithSelector(IAgentTabReputation.ScoreOutOfRange.selector, score, 100);
        } else if (count > 5) {
            expected = abi.encodeWithSelector(IAgentTabReputation.TooManyTags.selector, count, 5);
        } else if (count > 0 && length > 32) {
            expected = abi.encodeWithSelector(IAgentTabReputation.TagTooLong.selector, 0, length, 32);
        }
        vm.prank(alice);
        if (expected.length != 0) vm.expectRevert(expected);
        reputation.giveFeedback(receipt, signature, score, tags);
        assertTrue(reputation.feedbackGiven(receipt.requestId) == (expected.length == 0), "recorded iff within the limits");
    }

    // Payment and uniqueness ----------------------------------------------------------------------

    function test_giveFeedback_revertsWhenReceiptUnpaid() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 0);
        _expectRevert(
            receipt,
            _signReceipt(PROXY_KEY, receipt),
            50,
            _tags("free"),
            abi.encodeWithSelector(IAgentTabReputation.UnpaidReceipt.selector, receipt.requestId)
        );
    }

    function test_giveFeedback_revertsWhenAlreadyGiven() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        _giveFeedback(receipt, 50, _tags("ok"));
        _expectRevert(
            receipt,
            _signReceipt(PROXY_KEY, receipt),
            0,
            _tags("changed my mind"),
            abi.encodeWithSelector(IAgentTabReputation.FeedbackAlreadyGiven.selector, receipt.requestId)
        );
    }

    function test_giveFeedback_revertsOnASecondReceiptForTheSameCall() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        _giveFeedback(receipt, 50, _tags("ok"));
        receipt.amount = 6;
        receipt.issuedAt += 1;
        _expectRevert(
            receipt,
            _signReceipt(PROXY_KEY, receipt),
            0,
            _tags("again"),
            abi.encodeWithSelector(IAgentTabReputation.FeedbackAlreadyGiven.selector, receipt.requestId)
        );
    }

    // Receipt signature ---------------------------------------------------------------------------

    function test_giveFeedback_revertsWhenReceiptSignedByStranger() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        _expectRevert(
            receipt,
            _signReceipt(MALLORY_KEY, receipt),
            50,
            _tags("ok"),
            abi.encodeWithSelector(IAgentTabReputation.InvalidReceipt.selector, mallory)
        );
    }

    function test_giveFeedback_revertsWhenPayerSignsOwnReceipt() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        _expectRevert(
            receipt,
            _signReceipt(ALICE_KEY, receipt),
            100,
            _tags("ok"),
            abi.encodeWithSelector(IAgentTabReputation.InvalidReceipt.selector, alice)
        );
    }

    function test_giveFeedback_revertsWhenReceiptTampered() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PROXY_KEY, reputation.receiptDigest(receipt));
        receipt.provider = address(0xF002); // the signature no longer recovers the proxy's key
        address recovered = ecrecover(reputation.receiptDigest(receipt), v, r, s);
        _expectRevert(
            receipt,
            abi.encodePacked(r, s, v),
            100,
            _tags("ok"),
            abi.encodeWithSelector(IAgentTabReputation.InvalidReceipt.selector, recovered)
        );
    }

    function test_giveFeedback_revertsOnHighSReceiptSignature() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        _expectRevert(
            receipt,
            _signHighS(PROXY_KEY, reputation.receiptDigest(receipt)),
            50,
            _tags("ok"),
            abi.encodeWithSelector(IAgentTabReputation.InvalidReceipt.selector, address(0))
        );
    }

    function test_giveFeedback_revertsOnMalformedReceiptSignature() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        bytes memory signature = _signReceipt(PROXY_KEY, receipt);
        bytes memory short = new bytes(64);
        for (uint256 i; i < 64; ++i) {
            short[i] = signature[i];
        }
        bytes memory invalid = abi.encodeWithSelector(IAgentTabReputation.InvalidReceipt.selector, address(0));
        _expectRevert(receipt, short, 50, _tags("ok"), invalid);
        _expectRevert(receipt, new bytes(65), 50, _tags("ok"), invalid);
        _expectRevert(receipt, "", 50, _tags("ok"), invalid);
    }

    function test_giveFeedback_revertsAfterReceiptSignerRevoked() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        bytes memory signature = _signReceipt(PROXY_KEY, receipt);
        vm.prank(admin);
        reputation.setReceiptSigner(proxy, false);
        _expectRevert(
            receipt, signature, 50, _tags("ok"), abi.encodeWithSelector(IAgentTabReputation.InvalidReceipt.selector, proxy)
        );
    }

    function test_giveFeedback_receiptIsBoundToThisContract() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        // Signed by the proxy's key on the same chain, but for another deployment.
        AgentTabReputation other = new AgentTabReputation(admin, 0);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PROXY_KEY, other.receiptDigest(receipt));
        address recovered = ecrecover(reputation.receiptDigest(receipt), v, r, s);
        _expectRevert(
            receipt,
            abi.encodePacked(r, s, v),
            50,
            _tags("ok"),
            abi.encodeWithSelector(IAgentTabReputation.InvalidReceipt.selector, recovered)
        );
    }

    function test_giveFeedback_emitsOneEventWithTheTags() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        vm.recordLogs();
        _giveFeedback(receipt, 42, _tags("latency", "uptime"));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one log");
        assertEq(logs[0].topics[0], IAgentTabReputation.FeedbackGiven.selector, "FeedbackGiven");
        assertEq(logs[0].topics[1], bytes32(uint256(uint160(provider1))), "provider topic");
        assertEq(logs[0].topics[2], SERVICE, "service topic");
        assertEq(logs[0].topics[3], bytes32(uint256(uint160(alice))), "payer topic");
        assertEq(
            logs[0].data,
            abi.encode(receipt.requestId, uint8(42), _tags("latency", "uptime"), uint256(5)),
            "requestId, score, tags, amount"
        );
    }
}
