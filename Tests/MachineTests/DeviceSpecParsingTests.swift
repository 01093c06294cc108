import Machine
import Testing
import VirtioDevices

/// One parser for every front end's device options, with QEMU's spellings.
@Suite struct DeviceSpecParsingTests {
    @Test func diskSpellings() throws {
        #expect(try VirtioDeviceSpec.block(parsing: "/img", option: "--disk") == .block(BlockDeviceSpec(path: "/img")))
        #expect(try VirtioDeviceSpec.block(parsing: "/img,readonly=on,serial=disk0", option: "--blk")
            == .block(BlockDeviceSpec(path: "/img", readOnly: true, serial: "disk0")))
        // `,,` is a literal comma in the path, as in QEMU.
        #expect(try VirtioDeviceSpec.block(parsing: "/a,,b,readonly=off", option: "--disk") == .block(BlockDeviceSpec(path: "/a,b")))
        // QEMU's boolean spellings, and the bare key as the old short form of readonly=on.
        for on in ["readonly", "readonly=on", "readonly=yes", "readonly=true", "readonly=y"] {
            #expect(try VirtioDeviceSpec.block(parsing: "/img,\(on)", option: "--disk") == .block(BlockDeviceSpec(path: "/img", readOnly: true)))
        }
        for off in ["readonly=off", "readonly=no", "readonly=false", "readonly=n"] {
            #expect(try VirtioDeviceSpec.block(parsing: "/img,\(off)", option: "--disk") == .block(BlockDeviceSpec(path: "/img")))
        }
        #expect(try VirtioDeviceSpec.block(parsing: "/img,transport=mmio", option: "--disk")
            == .block(BlockDeviceSpec(path: "/img", transport: .mmio)))
        #expect(try VirtioDeviceSpec.device(parsing: "virtio-blk,file=/img,readonly=on,transport=pci-transitional")
            == .block(BlockDeviceSpec(path: "/img", readOnly: true, transport: .pciTransitional)))
    }

    @Test(arguments: [
        ("/img,discard=unmap", "--disk '/img,discard=unmap': unknown disk option 'discard' (readonly, serial, transport, aio, cache, poll-max-ns, num-queues, iothreads)"),
        ("", "--disk '': expected PATH[,readonly=on|off][,serial=ID][,transport=pci|pci-transitional|mmio][,aio=io_uring|threads|inline][,cache=writeback|none][,poll-max-ns=N][,num-queues=N][,iothreads=N]"),
        (",readonly=on", "--disk ',readonly=on': expected PATH[,readonly=on|off][,serial=ID][,transport=pci|pci-transitional|mmio][,aio=io_uring|threads|inline][,cache=writeback|none][,poll-max-ns=N][,num-queues=N][,iothreads=N]"),
        ("/img,aio=native", "--disk aio 'native': expected io_uring, threads or inline"),
        ("/img,cache=directsync", "--disk cache 'directsync': expected writeback or none"),
        ("/img,readonly=maybe", "--disk readonly 'maybe': expected on or off"),
        ("/img,serial=123456789012345678901", "--disk serial '123456789012345678901': expected 1 to 20 ASCII characters"),
        ("/img,serial=", "--disk serial '': expected 1 to 20 ASCII characters"),
        ("/img,transport=usb", "--disk transport 'usb': expected pci, pci-transitional or mmio"),
    ])
    func diskRefusals(text: String, message: String) {
        #expect(throws: DeviceSpecError.self) { try VirtioDeviceSpec.block(parsing: text, option: "--disk") }
        do {
            _ = try VirtioDeviceSpec.block(parsing: text, option: "--disk")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func netSpellings() throws {
        let mac = try #require(MACAddress("52:54:00:12:34:56"))
        #expect(try VirtioDeviceSpec.net(parsing: "tap=tap0", option: "--net") == .net(NetDeviceSpec(tap: "tap0")))
        #expect(try VirtioDeviceSpec.net(parsing: "tap=tap0,mac=52:54:00:12:34:56", option: "--net") == .net(NetDeviceSpec(tap: "tap0", mac: mac)))
        #expect(try VirtioDeviceSpec.net(parsing: "mac=52-54-00-12-34-56,tap=tap0", option: "--net") == .net(NetDeviceSpec(tap: "tap0", mac: mac)))
        #expect(try VirtioDeviceSpec.device(parsing: "virtio-net,ifname=tap0,transport=mmio") == .net(NetDeviceSpec(tap: "tap0", transport: .mmio)))
        // Multiqueue, QEMU's `-netdev tap,queues=N`.
        #expect(try VirtioDeviceSpec.net(parsing: "tap=tap0,queues=4", option: "--net") == .net(NetDeviceSpec(tap: "tap0", queuePairs: 4)))
        #expect(try VirtioDeviceSpec.device(parsing: "virtio-net,tap=tap0,queues=2") == .net(NetDeviceSpec(tap: "tap0", queuePairs: 2)))
        let error = #expect(throws: DeviceSpecError.self) { try VirtioDeviceSpec.net(parsing: "tap=t0,queues=65", option: "--net") }
        #expect(error?.option == "--net queues" && error?.value == "65")
    }

    @Test(arguments: [
        "tap=", "mac=52:54:00:12:34:56", "tap=0123456789abcdef", "tap=a/b", "tap=t0,mac=01:00:00:00:00:01",
        "tap=t0,mac=zz", "tap=t0,mac=52:54:00:12:34", "tap=t0,mac=52:54:00:12:34:567", "tap=t0,vhost=on",
        "tap=t0,queues=0", "tap=t0,queues=-1", "tap=t0,queues=two", "tap=t0,queues=",
    ])
    func netRefusals(text: String) {
        #expect(throws: DeviceSpecError.self) { try VirtioDeviceSpec.net(parsing: text, option: "--net") }
    }

    @Test func consoleAndEntropySpellings() throws {
        #expect(try VirtioDeviceSpec.console(parsing: "stdio", option: "--console") == .console(ConsoleDeviceSpec(endpoint: .stdio)))
        #expect(try VirtioDeviceSpec.console(parsing: "socket=/tmp/con.sock", option: "--console")
            == .console(ConsoleDeviceSpec(endpoint: .socket(path: "/tmp/con.sock"))))
        #expect(throws: DeviceSpecError.self) { try VirtioDeviceSpec.console(parsing: "tcp=1", option: "--console") }
        #expect(throws: DeviceSpecError.self) { try VirtioDeviceSpec.console(parsing: "socket=", option: "--console") }
        #expect(try VirtioDeviceSpec.device(parsing: "virtio-rng") == .entropy(EntropyDeviceSpec()))
        #expect(try VirtioDeviceSpec.device(parsing: "virtio-rng,transport=mmio") == .entropy(EntropyDeviceSpec(transport: .mmio)))
        #expect(throws: DeviceSpecError.self) { try VirtioDeviceSpec.device(parsing: "virtio-rng,rate=1") }
    }

    @Test func unknownDeviceNamesTheKinds() {
        do {
            _ = try VirtioDeviceSpec.device(parsing: "virtio-vga,xres=800")
            Issue.record("accepted an unknown device")
        } catch {
            #expect(error.description == "--device 'virtio-vga,xres=800': unknown device 'virtio-vga' (virtio-blk, virtio-net, virtio-rng, virtio-console, virtio-gpu, virtio-keyboard, virtio-tablet, virtio-mouse)")
        }
    }

    @Test func optionListKeepsEscapedCommas() {
        #expect(DeviceOptionList("a,,b,c=d,,e,f").fields == ["a,b", "c=d,e", "f"])
        #expect(DeviceOptionList("").fields == [""])
        #expect(DeviceOptionList("x,").fields == ["x", ""])
        #expect(DeviceOptionList("k=v=w").options == [DeviceOptionList.Field(key: "k", value: "v=w")])
    }
}
