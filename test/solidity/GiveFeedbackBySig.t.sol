// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabReputation} from "../../contracts/interfaces/IAgentTabReputation.sol";
import {MockSmartWallet} from "../../contracts/mocks/MockSmartWallet.sol";
import {ReputationTestBase} from "./base/ReputationTestBase.sol";
import {vm} from "./base/Vm.sol";

/// @notice Feedback signed by the payer and relayed by anyone (an agent without gas).
contract GiveFeedbackBySigTest is ReputationTestBase {
    address internal relayer = address(0x4E1A7);
    uint256 internal deadline;

    function setUp() public override {
        super.setUp();
        deadline = block.timestamp + 1 hours;
    }

    function _relay(
        IAgentTabReputation.Receipt memory receipt,
        uint8 score,
        string[] memory tags,
        bytes memory payerSignature,
        bytes memory revertData
    ) internal {
        bytes memory receiptSignature = _signReceipt(PROXY_KEY, receipt);
        vm.prank(relayer);
        if (revertData.length != 0) vm.expectRevert(revertData);
        reputation.giveFeedbackBySig(receipt, receiptSignature, score, tags, deadline, payerSignature);
    }

    // Success paths -------------------------------------------------------------------------------

    function test_giveFeedbackBySig_relayedByAnyoneForThePayer() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 7_500);
        string[] memory tags = _tags("fast", "cheap");
        bytes memory payerSignature = _signFeedback(ALICE_KEY, receipt.requestId, 80, tags, deadline);
        bytes memory receiptSignature = _signReceipt(PROXY_KEY, receipt);
        vm.expectEmit(true, true, true, true, address(reputation));
        emit IAgentTabReputation.FeedbackGiven(provider1, SERVICE, alice, receipt.requestId, 80, tags, 7_500);
        vm.prank(relayer);
        reputation.giveFeedbackBySig(receipt, receiptSignature, 80, tags, deadline, payerSignature);
        assertTrue(reputation.feedbackGiven(receipt.requestId), "recorded");
    }

    function test_giveFeedbackBySig_acceptsAtTheDeadline() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        bytes memory payerSignature = _signFeedback(ALICE_KEY, receipt.requestId, 60, _tags("ok"), deadline);
        vm.warp(deadline);
        _relay(receipt, 60, _tags("ok"), payerSignature, "");
        assertTrue(reputation.feedbackGiven(receipt.requestId), "recorded");
    }

    function test_giveFeedbackBySig_acceptsSmartWalletPayer() public {
        MockSmartWallet wallet = new MockSmartWallet(alice);
        IAgentTabReputation.Receipt memory receipt = _receipt(address(wallet), 5);
        // ERC-1271: the wallet accepts its owner's signature over the digest.
        bytes memory payerSignature = _signFeedback(ALICE_KEY, receipt.requestId, 90, _tags("ok"), deadline);
        _relay(receipt, 90, _tags("ok"), payerSignature, "");
        assertTrue(reputation.feedbackGiven(receipt.requestId), "recorded");
    }

    function test_giveFeedbackBySig_acceptsNoTags() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        string[] memory none = new string[](0);
        _relay(receipt, 0, none, _signFeedback(ALICE_KEY, receipt.requestId, 0, none, deadline), "");
        assertTrue(reputation.feedbackGiven(receipt.requestId), "recorded");
    }

    // The payer's signature -----------------------------------------------------------------------

    function test_giveFeedbackBySig_revertsWhenExpired() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        bytes memory payerSignature = _signFeedback(ALICE_KEY, receipt.requestId, 60, _tags("ok"), deadline);
        vm.warp(deadline + 1);
        _relay(
            receipt,
            60,
            _tags("ok"),
            payerSignature,
            abi.encodeWithSelector(IAgentTabReputation.FeedbackExpired.selector, deadline)
        );
    }

    function test_giveFeedbackBySig_revertsWhenSignedByAnotherKey() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        _relay(
            receipt,
            100,
            _tags("ok"),
            _signFeedback(MALLORY_KEY, receipt.requestId, 100, _tags("ok"), deadline),
            abi.encodeWithSelector(IAgentTabReputation.InvalidFeedbackSignature.selector, receipt.requestId, alice)
        );
    }

    function test_giveFeedbackBySig_revertsWhenRelayerChangesTheScore() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        _relay(
            receipt,
            100,
            _tags("ok"),
            _signFeedback(ALICE_KEY, receipt.requestId, 10, _tags("ok"), deadline),
            abi.encodeWithSelector(IAgentTabReputation.InvalidFeedbackSignature.selector, receipt.requestId, alice)
        );
    }

    function test_giveFeedbackBySig_revertsWhenRelayerChangesTheTags() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        bytes memory payerSignature = _signFeedback(ALICE_KEY, receipt.requestId, 30, _tags("slow", "wrong"), deadline);
        bytes memory invalid =
            abi.encodeWithSelector(IAgentTabReputation.InvalidFeedbackSignature.selector, receipt.requestId, alice);
        _relay(receipt, 30, _tags("wrong", "slow"), payerSignature, invalid);
        _relay(receipt, 30, _tags("slow"), payerSignature, invalid);
        _relay(receipt, 30, _tags("slowwrong"), payerSignature, invalid);
    }

    function test_giveFeedbackBySig_revertsWhenSignedForAnotherCall() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        IAgentTabReputation.Receipt memory other = _receipt(alice, 5);
        _relay(
            receipt,
            50,
            _tags("ok"),
            _signFeedback(ALICE_KEY, other.requestId, 50, _tags("ok"), deadline),
            abi.encodeWithSelector(IAgentTabReputation.InvalidFeedbackSignature.selector, receipt.requestId, alice)
        );
    }

    function test_giveFeedbackBySig_revertsOnHighSPayerSignature() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        bytes32 digest = reputation.feedbackDigest(receipt.requestId, 50, _tags("ok"), deadline);
        _relay(
            receipt,
            50,
            _tags("ok"),
            _signHighS(ALICE_KEY, digest),
            abi.encodeWithSelector(IAgentTabReputation.InvalidFeedbackSignature.selector, receipt.requestId, alice)
        );
    }

    function test_giveFeedbackBySig_revertsWhenSmartWalletRefuses() public {
        MockSmartWallet wallet = new MockSmartWallet(alice);
        IAgentTabReputation.Receipt memory receipt = _receipt(address(wallet), 5);
        _relay(
            receipt,
            50,
            _tags("ok"),
            _signFeedback(MALLORY_KEY, receipt.requestId, 50, _tags("ok"), deadline),
            abi.encodeWithSelector(
                IAgentTabReputation.InvalidFeedbackSignature.selector, receipt.requestId, address(wallet)
            )
        );
    }

    // The receipt, limits and uniqueness still apply ----------------------------------------------

    function test_giveFeedbackBySig_revertsWhenReceiptNotSignedByProxy() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        bytes memory payerSignature = _signFeedback(ALICE_KEY, receipt.requestId, 50, _tags("ok"), deadline);
        bytes memory forged = _signReceipt(ALICE_KEY, receipt);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabReputation.InvalidReceipt.selector, alice));
        reputation.giveFeedbackBySig(receipt, forged, 50, _tags("ok"), deadline, payerSignature);
    }

    function test_giveFeedbackBySig_revertsWhenScoreAbove100() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        _relay(
            receipt,
            101,
            _tags("ok"),
            _signFeedback(ALICE_KEY, receipt.requestId, 101, _tags("ok"), deadline),
            abi.encodeWithSelector(IAgentTabReputation.ScoreOutOfRange.selector, 101, 100)
        );
    }

    function test_giveFeedbackBySig_revertsWhenReceiptUnpaid() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 0);
        _relay(
            receipt,
            50,
            _tags("ok"),
            _signFeedback(ALICE_KEY, receipt.requestId, 50, _tags("ok"), deadline),
            abi.encodeWithSelector(IAgentTabReputation.UnpaidReceipt.selector, receipt.requestId)
        );
    }

    function test_giveFeedbackBySig_revertsOnReplay() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        bytes memory payerSignature = _signFeedback(ALICE_KEY, receipt.requestId, 50, _tags("ok"), deadline);
        _relay(receipt, 50, _tags("ok"), payerSignature, "");
        _relay(
            receipt,
            50,
            _tags("ok"),
            payerSignature,
            abi.encodeWithSelector(IAgentTabReputation.FeedbackAlreadyGiven.selector, receipt.requestId)
        );
    }

    function test_giveFeedbackBySig_sharesOneFeedbackPerCallWithGiveFeedback() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        bytes memory payerSignature = _signFeedback(ALICE_KEY, receipt.requestId, 50, _tags("ok"), deadline);
        _giveFeedback(receipt, 90, _tags("direct"));
        _relay(
            receipt,
            50,
            _tags("ok"),
            payerSignature,
            abi.encodeWithSelector(IAgentTabReputation.FeedbackAlreadyGiven.selector, receipt.requestId)
        );
    }
}
