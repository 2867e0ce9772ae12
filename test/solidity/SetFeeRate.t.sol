// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract SetFeeRateTest is EscrowTestBase {
    function test_setFeeRate_updatesWithinCap() public {
        vm.expectEmit(false, false, false, true, address(escrow));
        emit IAgentTabEscrow.FeeRateUpdated(FEE_BPS, MAX_FEE_BPS);
        vm.prank(admin);
        escrow.setFeeRate(MAX_FEE_BPS);
        assertEq(escrow.feeBps(), MAX_FEE_BPS, "rate");
    }

    function test_setFeeRate_revertsAboveImmutableCap() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.FeeRateAboveCap.selector, MAX_FEE_BPS + 1, MAX_FEE_BPS));
        escrow.setFeeRate(MAX_FEE_BPS + 1);
    }

    function test_setFeeRate_revertsForNonAdmin() public {
        bytes32 role = escrow.DEFAULT_ADMIN_ROLE();
        vm.prank(settler);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, settler, role));
        escrow.setFeeRate(1);
    }

    function testFuzz_setFeeRate_neverExceedsCap(uint16 bps) public {
        vm.prank(admin);
        if (bps > MAX_FEE_BPS) {
            vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.FeeRateAboveCap.selector, bps, MAX_FEE_BPS));
        }
        escrow.setFeeRate(bps);
        assertLe(escrow.feeBps(), MAX_FEE_BPS, "rate within cap");
    }
}
