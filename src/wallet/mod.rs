//! wallet/: the `bitcoin-wallet` process, spawned by the node or attached to a
//! running node with `-ipcconnect`.
