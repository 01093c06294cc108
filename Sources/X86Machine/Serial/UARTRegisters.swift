/// Register offsets and bits of the 16550A UART (National Semiconductor PC16550D data sheet,
/// table II "Summary of Registers").
enum UARTRegister {
    static let data: UInt64 = 0          // RBR (read) / THR (write); DLL with DLAB=1
    static let interruptEnable: UInt64 = 1  // IER; DLM with DLAB=1
    static let interruptIdentification: UInt64 = 2  // IIR (read) / FCR (write)
    static let lineControl: UInt64 = 3
    static let modemControl: UInt64 = 4
    static let lineStatus: UInt64 = 5
    static let modemStatus: UInt64 = 6
    static let scratch: UInt64 = 7
}

/// IER bits.
enum UARTInterruptEnable {
    static let receivedData: UInt8 = 0x01
    static let transmitterEmpty: UInt8 = 0x02
    static let receiverLineStatus: UInt8 = 0x04
    static let modemStatus: UInt8 = 0x08
    /// Bits 7:4 are always zero on a 16550A.
    static let writable: UInt8 = 0x0F
}

/// IIR values: bit 0 clear means "interrupt pending"; bits 3:1 say which (highest priority first).
enum UARTInterruptID {
    static let none: UInt8 = 0x01
    static let receiverLineStatus: UInt8 = 0x06
    static let receivedData: UInt8 = 0x04
    static let characterTimeout: UInt8 = 0x0C
    static let transmitterEmpty: UInt8 = 0x02
    static let modemStatus: UInt8 = 0x00
    /// Bits 7:6 read 11 when the FIFOs are enabled.
    static let fifosEnabled: UInt8 = 0xC0
}

/// FCR bits.
enum UARTFIFOControl {
    static let enable: UInt8 = 0x01
    static let clearReceive: UInt8 = 0x02
    static let clearTransmit: UInt8 = 0x04
    static let triggerMask: UInt8 = 0xC0
}

/// LCR bits.
enum UARTLineControl {
    static let divisorLatchAccess: UInt8 = 0x80
}

/// MCR bits.
enum UARTModemControl {
    static let dataTerminalReady: UInt8 = 0x01
    static let requestToSend: UInt8 = 0x02
    static let out1: UInt8 = 0x04
    static let out2: UInt8 = 0x08
    static let loopback: UInt8 = 0x10
    /// Bits 7:5 are always zero on a 16550A.
    static let writable: UInt8 = 0x1F
}

/// LSR bits.
enum UARTLineStatus {
    static let dataReady: UInt8 = 0x01
    static let overrunError: UInt8 = 0x02
    static let parityError: UInt8 = 0x04
    static let framingError: UInt8 = 0x08
    static let breakInterrupt: UInt8 = 0x10
    static let transmitHoldingEmpty: UInt8 = 0x20
    static let transmitterEmpty: UInt8 = 0x40
    static let errorInReceiveFIFO: UInt8 = 0x80
    static let errors: UInt8 = overrunError | parityError | framingError | breakInterrupt
}

/// MSR bits.
enum UARTModemStatus {
    static let deltaClearToSend: UInt8 = 0x01
    static let deltaDataSetReady: UInt8 = 0x02
    static let trailingEdgeRingIndicator: UInt8 = 0x04
    static let deltaDataCarrierDetect: UInt8 = 0x08
    static let clearToSend: UInt8 = 0x10
    static let dataSetReady: UInt8 = 0x20
    static let ringIndicator: UInt8 = 0x40
    static let dataCarrierDetect: UInt8 = 0x80
    static let deltas: UInt8 = 0x0F
}
