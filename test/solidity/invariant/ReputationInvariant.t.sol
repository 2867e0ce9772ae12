// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentTabReputation} from "../../../contracts/AgentTabReputation.sol";
import {TestBase} from "../base/TestBase.sol";
import {vm} from "../base/Vm.sol";
import {ReputationHandler} from "./ReputationHandler.sol";

/// @notice Feedback is accepted exactly when the payer gives it on a paid call, within the limits,
/// with a receipt from a signer allowed at that moment, and at most once per call; whatever the order
/// of direct and relayed feedback, replays, forged receipts and signer changes.
contract ReputationInvariantTest is TestBase {
    AgentTabReputation internal reputation;
    ReputationHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        address admin = address(0xAD);
        reputation = new AgentTabReputation(admin, 0);
        handler = new ReputationHandler(reputation, admin);
        vm.prank(admin);
        reputation.setReceiptSigner(vm.addr(0x9807), true);
    }

    /// @dev Read by the invariant runner: only the handler is called.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_everyOutcomeMatchesTheModel() public view {
        assertEq(handler.ghostMismatches(), 0, "accepted or refused against the rules");
    }

    function invariant_atMostOneFeedbackPerCall() public view {
        uint256 given;
        for (uint256 i; i < handler.REQUEST_POOL(); ++i) {
            if (reputation.feedbackGiven(handler.requestId(i))) ++given;
        }
        assertEq(given, handler.ghostAccepted(), "calls with feedback == feedback accepted");
    }
}
