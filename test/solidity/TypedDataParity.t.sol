// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentTabEscrow} from "../../contracts/AgentTabEscrow.sol";
import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {IUSDC} from "../../contracts/interfaces/IUSDC.sol";
import {VoucherHash} from "../../contracts/libraries/VoucherHash.sol";
import {MockUSDC} from "../../contracts/mocks/MockUSDC.sol";
import {TestBase} from "./base/TestBase.sol";
import {vm} from "./base/Vm.sol";

/// @notice Fixed vectors signed in TypeScript by viem with the SDK's typed data
/// (test/vectors/*.json, pinned by test/e2e/typedDataParity.test.ts). The contracts are deployed
/// where those vectors name them (Hardhat's first account, nonces 0 and 1, chain 31337), so the
/// digests must match to the bit and the contracts must accept the viem signatures.
contract TypedDataParityTest is TestBase {
    address internal constant DEPLOYER = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;
    address internal constant SIGNER = 0x70997970C51812dc3A010C7d01b50e0d17dc79C8;
    address internal constant USDC_ADDRESS = 0x5FbDB2315678afecb367f032d93F642f64180aa3;
    address internal constant ESCROW_ADDRESS = 0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512;

    // test/vectors/voucher.json
    uint256 internal constant VOUCHER_MAX = 1234567;
    bytes32 internal constant VOUCHER_TYPEHASH = 0xb8a2cbd1f0bd51c3a071b86ece3a67384326d0d0e72a9485c72a128e6c0e26c0;
    bytes32 internal constant VOUCHER_DOMAIN = 0xae3713a7d4c894ec424f43985abffc2ea1d382ea32ca53cef716cc634dbedbf8;
    bytes32 internal constant VOUCHER_STRUCT = 0x28579aba12b01a30a3da58f75b5a52e3dab8504b0b44c157abb7b4360d21c024;
    bytes32 internal constant VOUCHER_DIGEST = 0x2113533858d1aefee150384ac25369bd1adde76e249e8a8d5fd5cab8af3498a4;
    bytes internal constant VOUCHER_SIG =
        hex"86214b2e9994fad57eb7c2f4f819f657413205fa32d92464b5780c1be4cc144b24c982ad873aaab987fbed5473078e5b3ff8dd6933455629753b9c38afac9edd1c";

    // test/vectors/transferWithAuthorization.json
    uint256 internal constant AUTH_VALUE = 1_000_000;
    uint256 internal constant AUTH_VALID_BEFORE = 4102444800;
    bytes32 internal constant AUTH_NONCE = 0xbd4ed3ed2d48c2208ed10dd37f4326f3868dba7dec201ad1a2c23d7be4d364a2;
    bytes32 internal constant AUTH_TYPEHASH = 0x7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267;
    bytes32 internal constant AUTH_DOMAIN = 0xfc557a58e1177dd0b729c40130003009d1ffed5a502b494889e2711c7726dd52;
    bytes32 internal constant AUTH_STRUCT = 0x2814aff4a812fe8cc54c5d4357c47f758d1b488b966b935549bfd8340bb0fdb5;
    bytes internal constant AUTH_SIG =
        hex"4cbecc0ff40d2b93d055fdc3b3d5952cf0a7497f1919cc085afaf3330f0394bc54a62ecfe4118a88a9d00a2320684456cd3f45246c88f2c43dbe9ab99a70c2ab1b";

    MockUSDC internal usdc;
    AgentTabEscrow internal escrow;
    address internal settler = address(0x5E77);

    function setUp() public {
        assertEq(block.chainid, 31337, "the vectors are for chain 31337");
        assertEq(vm.getNonce(DEPLOYER), 0, "deployer starts fresh");
        vm.startPrank(DEPLOYER);
        usdc = new MockUSDC();
        escrow = new AgentTabEscrow(IUSDC(address(usdc)), DEPLOYER, 0, 500, 100, 8 days);
        escrow.grantRole(escrow.SETTLER_ROLE(), settler);
        vm.stopPrank();
    }

    function test_parity_contractsLandWhereTheVectorsSay() public view {
        assertEq(address(usdc), USDC_ADDRESS, "usdc address");
        assertEq(address(escrow), ESCROW_ADDRESS, "escrow address");
    }

    function test_parity_voucherHashesMatchViem() public view {
        assertEq(VoucherHash.VOUCHER_TYPEHASH, VOUCHER_TYPEHASH, "type hash");
        assertEq(VoucherHash.hashVoucher(SIGNER, VOUCHER_MAX), VOUCHER_STRUCT, "struct hash");
        assertEq(VoucherHash.toTypedDataHash(VOUCHER_DOMAIN, VOUCHER_STRUCT), VOUCHER_DIGEST, "digest from parts");
        assertEq(escrow.voucherDigest(SIGNER, VOUCHER_MAX), VOUCHER_DIGEST, "escrow digest");
    }

    function test_parity_escrowSettlesTheViemSignedVoucher() public {
        usdc.mint(SIGNER, 2e6);
        vm.startPrank(SIGNER);
        usdc.approve(address(escrow), 2e6);
        escrow.deposit(2e6);
        vm.stopPrank();
        bytes memory claim =
            abi.encodePacked(uint8(0), SIGNER, uint128(VOUCHER_MAX), uint128(VOUCHER_MAX), uint16(65), VOUCHER_SIG);
        IAgentTabEscrow.Payout[] memory p = new IAgentTabEscrow.Payout[](1);
        uint256 fee = VOUCHER_MAX * 100 / 10_000;
        p[0] = IAgentTabEscrow.Payout(address(0xF001), uint128(VOUCHER_MAX - fee), 1, 0);
        vm.prank(settler);
        assertTrue(escrow.settle("parity", claim, p, fee), "settled");
        assertEq(escrow.accountOf(SIGNER).claimed, VOUCHER_MAX, "claimed by the viem voucher");
    }

    function test_parity_authorizationHashesMatchViem() public view {
        assertEq(VoucherHash.TRANSFER_WITH_AUTHORIZATION_TYPEHASH, AUTH_TYPEHASH, "type hash");
        assertEq(usdc.DOMAIN_SEPARATOR(), AUTH_DOMAIN, "USDC domain");
        bytes32 structHash = VoucherHash.hashAuthorization(
            AUTH_TYPEHASH, SIGNER, ESCROW_ADDRESS, AUTH_VALUE, 0, AUTH_VALID_BEFORE, AUTH_NONCE
        );
        assertEq(structHash, AUTH_STRUCT, "struct hash");
    }

    function test_parity_exactPaymentAcceptsTheViemAuthorization() public {
        usdc.mint(SIGNER, AUTH_VALUE);
        IAgentTabEscrow.ExactPayment memory payment =
            IAgentTabEscrow.ExactPayment(SIGNER, AUTH_VALUE, 0, AUTH_VALID_BEFORE, AUTH_NONCE, address(0xF001), 0);
        vm.prank(settler);
        escrow.settleExactPayment(payment, AUTH_SIG);
        assertEq(escrow.earningsOf(address(0xF001)), AUTH_VALUE, "provider paid by the viem authorization");
    }
}
