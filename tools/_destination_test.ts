import { assertEquals } from "@std/assert";
import { isInternalAddress } from "./_destination.ts";

Deno.test("internal addresses are recognised in every range, public ones are not", () => {
  const internal = [
    "127.0.0.1",
    "127.255.0.9",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254", // cloud metadata
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
  ];
  const external = ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111"];
  assertEquals(internal.filter((address) => !isInternalAddress(address)), []);
  assertEquals(external.filter((address) => isInternalAddress(address)), []);
});
