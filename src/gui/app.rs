//! The window: bitcoin-qt's screens drawn with egui from the backend's
//! [`Model`]. Overview, send, receive, transactions, peers, the RPC console
//! and an information page, with a create/open wallet dialog. Clicks become
//! [`Command`]s for the backend; nothing here waits on the node, and errors
//! from the node are shown as messages.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use eframe::egui::{self, Color32, RichText};

use super::backend::Backend;
use super::model::{Command, Fee, Link, Model, Transaction};

/// How often an idle window looks whether SIGINT/SIGTERM came.
const STOP_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// The screens, in the order of their tabs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Overview,
    Send,
    Receive,
    Transactions,
    Peers,
    Console,
    Information,
}

impl Screen {
    pub const ALL: [Screen; 7] = [
        Screen::Overview,
        Screen::Send,
        Screen::Receive,
        Screen::Transactions,
        Screen::Peers,
        Screen::Console,
        Screen::Information,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Overview => "Overview",
            Screen::Send => "Send",
            Screen::Receive => "Receive",
            Screen::Transactions => "Transactions",
            Screen::Peers => "Peers",
            Screen::Console => "Console",
            Screen::Information => "Information",
        }
    }
}

/// The send screen's form.
#[derive(Clone, Debug)]
pub struct SendForm {
    pub address: String,
    pub amount: String,
    pub subtract_fee: bool,
    /// Smart fee (true) or a custom rate.
    pub recommended: bool,
    pub target: u16,
    pub rate: f64,
    /// The confirmation dialog is open.
    pub confirming: bool,
}

impl Default for SendForm {
    fn default() -> Self {
        SendForm {
            address: String::new(),
            amount: String::new(),
            subtract_fee: false,
            recommended: true,
            target: 6,
            rate: 1.0,
            confirming: false,
        }
    }
}

impl SendForm {
    fn fee(&self) -> Fee {
        if self.recommended {
            Fee::Target(self.target)
        } else {
            Fee::Rate(self.rate)
        }
    }
}

/// The window's own state; the node's data is in the backend's model.
pub struct App {
    backend: Backend,
    exit_code: Arc<AtomicI32>,
    pub screen: Screen,
    pub console_input: String,
    history: Vec<String>,
    history_pos: usize,
    pub send: SendForm,
    pub receive_label: String,
    pub receive_amount: String,
    pub tx_filter: String,
    selected_tx: Option<String>,
    pub wallet_dialog: bool,
    pub new_wallet_name: String,
    new_wallet_passphrase: String,
    minimize: bool,
}

impl App {
    /// A window on `backend`; the backend's exit code lands in `exit_code`
    /// when the window is dropped.
    pub fn new(backend: Backend, exit_code: Arc<AtomicI32>, minimized: bool) -> App {
        App {
            backend,
            exit_code,
            screen: Screen::Overview,
            console_input: String::new(),
            history: Vec::new(),
            history_pos: 0,
            send: SendForm::default(),
            receive_label: String::new(),
            receive_amount: String::new(),
            tx_filter: String::new(),
            selected_tx: None,
            wallet_dialog: false,
            new_wallet_name: String::new(),
            new_wallet_passphrase: String::new(),
            minimize: minimized,
        }
    }

    /// A copy of what the backend knows now.
    pub fn model(&self) -> Model {
        self.backend.model()
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Draws everything once.
    pub fn draw(&mut self, ui: &mut egui::Ui) {
        self.backend.set_repaint(ui.ctx());
        if std::mem::take(&mut self.minimize) {
            ui.ctx()
                .send_viewport_cmd(egui::ViewportCommand::Minimized(true));
        }
        let model = self.backend.model();
        if super::stop_requested() {
            // SIGINT/SIGTERM: close as the window's close button would.
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
        // Look for a stop request even when nothing else moves.
        ui.ctx().request_repaint_after(STOP_POLL);
        egui::Panel::top("tabs").show(ui, |ui| {
            ui.horizontal(|ui| {
                for s in Screen::ALL {
                    if ui.selectable_label(self.screen == s, s.title()).clicked() {
                        self.screen = s;
                    }
                }
                ui.separator();
                self.wallet_picker(ui, &model);
            });
        });
        egui::Panel::bottom("status").show(ui, |ui| status_bar(ui, &model));
        if !model.messages.is_empty() {
            egui::Panel::top("messages").show(ui, |ui| {
                for m in &model.messages {
                    ui.colored_label(Color32::from_rgb(200, 60, 40), m);
                }
                if ui.button("Dismiss").clicked() {
                    self.backend.edit(|m| m.messages.clear());
                }
            });
        }
        egui::CentralPanel::default_margins().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| match self.screen {
                Screen::Overview => overview(ui, &model),
                Screen::Send => self.send_screen(ui, &model),
                Screen::Receive => self.receive_screen(ui, &model),
                Screen::Transactions => self.transactions_screen(ui, &model),
                Screen::Peers => peers_screen(ui, &model),
                Screen::Console => self.console_screen(ui, &model),
                Screen::Information => self.information_screen(ui, &model),
            });
        });
        if self.wallet_dialog {
            self.wallet_dialog(ui.ctx(), &model);
        }
        if self.send.confirming {
            self.confirm_send(ui.ctx());
        }
    }

    fn wallet_picker(&mut self, ui: &mut egui::Ui, model: &Model) {
        let current = model.wallet.as_ref().map(|w| w.name.clone());
        let shown = match &current {
            Some(n) if n.is_empty() => "(default wallet)".to_string(),
            Some(n) => n.clone(),
            None => "(no wallet)".to_string(),
        };
        egui::ComboBox::new("wallet", "Wallet")
            .selected_text(shown)
            .show_ui(ui, |ui| {
                for w in &model.wallets {
                    let label = if w.is_empty() { "(default wallet)" } else { w };
                    if ui
                        .selectable_label(current.as_deref() == Some(w), label)
                        .clicked()
                    {
                        self.backend.send(Command::SelectWallet(w.clone()));
                    }
                }
            });
        if ui.button("Create or open wallet…").clicked() {
            self.wallet_dialog = true;
        }
    }

    fn wallet_dialog(&mut self, ctx: &egui::Context, model: &Model) {
        let mut close = false;
        egui::Modal::new(egui::Id::unique("wallet-dialog")).show(ctx, |ui| {
            ui.heading("Wallets");
            let name_label = ui.label("Wallet name");
            ui.text_edit_singleline(&mut self.new_wallet_name)
                .labelled_by(name_label.id);
            let pass_label = ui.label("Passphrase (optional)");
            ui.add(egui::TextEdit::singleline(&mut self.new_wallet_passphrase).password(true))
                .labelled_by(pass_label.id);
            if ui.button("Create wallet").clicked() {
                self.backend.send(Command::CreateWallet {
                    name: self.new_wallet_name.trim().to_string(),
                    passphrase: std::mem::take(&mut self.new_wallet_passphrase),
                });
                close = true;
            }
            let closed: Vec<&String> = model
                .wallet_dir
                .iter()
                .filter(|w| !model.wallets.contains(w))
                .collect();
            if !closed.is_empty() {
                ui.separator();
                ui.label("In the wallet directory, not loaded:");
                for w in closed {
                    if ui.button(format!("Open \"{w}\"")).clicked() {
                        self.backend.send(Command::OpenWallet(w.clone()));
                        close = true;
                    }
                }
            }
            ui.separator();
            if ui.button("Cancel").clicked() {
                close = true;
            }
        });
        if close {
            self.wallet_dialog = false;
        }
    }

    fn send_screen(&mut self, ui: &mut egui::Ui, model: &Model) {
        if model.wallet.is_none() {
            ui.label("No wallet is loaded: create or open one to send.");
            return;
        }
        egui::Grid::new("send").num_columns(2).show(ui, |ui| {
            let l = ui.label("Pay to");
            ui.add(egui::TextEdit::singleline(&mut self.send.address).desired_width(420.0))
                .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("Amount (BTC)");
            ui.text_edit_singleline(&mut self.send.amount)
                .labelled_by(l.id);
            ui.end_row();
            ui.label("");
            ui.checkbox(&mut self.send.subtract_fee, "Subtract fee from amount");
            ui.end_row();
            ui.label("Transaction fee");
            ui.vertical(|ui| {
                ui.radio_value(&mut self.send.recommended, true, "Recommended");
                ui.horizontal(|ui| {
                    ui.label("Confirmation target (blocks)");
                    ui.add(egui::DragValue::new(&mut self.send.target).range(1..=1008));
                });
                ui.radio_value(&mut self.send.recommended, false, "Custom");
                ui.horizontal(|ui| {
                    ui.label("Fee rate (sat/vB)");
                    ui.add(
                        egui::DragValue::new(&mut self.send.rate)
                            .range(0.1..=10_000.0)
                            .speed(0.1),
                    );
                });
            });
            ui.end_row();
        });
        ui.horizontal(|ui| {
            if ui.button("Send…").clicked() {
                self.send.confirming = true;
            }
            if ui.button("Create unsigned PSBT").clicked() {
                self.backend.send(Command::ExportPsbt {
                    address: self.send.address.trim().to_string(),
                    amount: self.send.amount.trim().to_string(),
                    fee: self.send.fee(),
                });
            }
        });
        let Some(w) = &model.wallet else { return };
        if let Some(txid) = &w.last_sent {
            ui.separator();
            ui.label(format!("Sent: {txid}"));
        }
        if let Some(psbt) = &w.last_psbt {
            ui.separator();
            ui.label("Unsigned PSBT (base64):");
            let mut text = psbt.clone();
            ui.add(
                egui::TextEdit::multiline(&mut text)
                    .desired_rows(4)
                    .desired_width(f32::INFINITY),
            );
            if ui.button("Copy PSBT").clicked() {
                ui.ctx().copy_text(psbt.clone());
            }
        }
    }

    fn confirm_send(&mut self, ctx: &egui::Context) {
        let mut decided = None;
        egui::Modal::new(egui::Id::unique("confirm-send")).show(ctx, |ui| {
            ui.heading("Confirm send coins");
            ui.label(format!(
                "Pay {} BTC to {}",
                self.send.amount.trim(),
                self.send.address.trim()
            ));
            ui.label(match self.send.fee() {
                Fee::Target(n) => format!("Fee: recommended, confirmation within {n} blocks"),
                Fee::Rate(r) => format!("Fee: {r} sat/vB"),
            });
            if self.send.subtract_fee {
                ui.label("The fee is subtracted from the amount.");
            }
            ui.horizontal(|ui| {
                if ui.button("Confirm").clicked() {
                    decided = Some(true);
                }
                if ui.button("Cancel").clicked() {
                    decided = Some(false);
                }
            });
        });
        if let Some(send) = decided {
            self.send.confirming = false;
            if send {
                self.backend.send(Command::Send {
                    address: self.send.address.trim().to_string(),
                    amount: self.send.amount.trim().to_string(),
                    fee: self.send.fee(),
                    subtract_fee: self.send.subtract_fee,
                });
            }
        }
    }

    fn receive_screen(&mut self, ui: &mut egui::Ui, model: &Model) {
        let Some(w) = &model.wallet else {
            ui.label("No wallet is loaded: create or open one to receive.");
            return;
        };
        egui::Grid::new("receive").num_columns(2).show(ui, |ui| {
            let l = ui.label("Label");
            ui.text_edit_singleline(&mut self.receive_label)
                .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("Requested amount (BTC)");
            ui.text_edit_singleline(&mut self.receive_amount)
                .labelled_by(l.id);
            ui.end_row();
        });
        if ui.button("New receiving address").clicked() {
            self.backend.send(Command::NewAddress {
                label: self.receive_label.clone(),
                amount: self.receive_amount.clone(),
            });
        }
        if let Some((address, uri)) = &w.receive {
            ui.separator();
            ui.label(RichText::new(address).monospace().strong());
            ui.label(RichText::new(uri).monospace());
            ui.horizontal(|ui| {
                if ui.button("Copy address").clicked() {
                    ui.ctx().copy_text(address.clone());
                }
                if ui.button("Copy URI").clicked() {
                    ui.ctx().copy_text(uri.clone());
                }
            });
            qr_code(ui, uri);
        }
    }

    fn transactions_screen(&mut self, ui: &mut egui::Ui, model: &Model) {
        let Some(w) = &model.wallet else {
            ui.label("No wallet is loaded.");
            return;
        };
        ui.horizontal(|ui| {
            let l = ui.label("Filter");
            ui.text_edit_singleline(&mut self.tx_filter)
                .labelled_by(l.id);
        });
        let filter = self.tx_filter.to_lowercase();
        let shown: Vec<&Transaction> = w
            .transactions
            .iter()
            .filter(|t| {
                filter.is_empty()
                    || t.txid.contains(&filter)
                    || t.address.to_lowercase().contains(&filter)
                    || t.label.to_lowercase().contains(&filter)
                    || t.category.contains(&filter)
            })
            .collect();
        egui::Grid::new("transactions")
            .striped(true)
            .num_columns(5)
            .show(ui, |ui| {
                for h in ["Date", "Type", "Address", "Amount (BTC)", "Confirmations"] {
                    ui.strong(h);
                }
                ui.end_row();
                for t in &shown {
                    ui.label(date(t.time));
                    if ui
                        .selectable_label(self.selected_tx.as_ref() == Some(&t.txid), &t.category)
                        .clicked()
                    {
                        self.selected_tx = Some(t.txid.clone());
                    }
                    ui.label(if t.label.is_empty() {
                        t.address.clone()
                    } else {
                        format!("{} ({})", t.label, t.address)
                    });
                    ui.label(format!("{:.8}", t.amount));
                    ui.label(t.confirmations.to_string());
                    ui.end_row();
                }
            });
        if let Some(t) = self
            .selected_tx
            .as_ref()
            .and_then(|id| w.transactions.iter().find(|t| &t.txid == id))
        {
            ui.separator();
            ui.strong("Transaction details");
            ui.label(format!("Transaction ID: {}", t.txid));
            ui.label(format!("Date: {}", date(t.time)));
            ui.label(format!("Amount: {:.8} BTC", t.amount));
            if let Some(fee) = t.fee {
                ui.label(format!("Fee: {:.8} BTC", fee));
            }
            ui.label(format!("Confirmations: {}", t.confirmations));
        }
    }

    fn console_screen(&mut self, ui: &mut egui::Ui, model: &Model) {
        ui.label("Runs RPC commands on the node, as bitcoin-cli would. Type help for a list.");
        for e in &model.console {
            ui.label(
                RichText::new(format!("> {}", e.command))
                    .monospace()
                    .strong(),
            );
            let text = RichText::new(&e.output).monospace();
            ui.label(if e.error {
                text.color(Color32::from_rgb(200, 60, 40))
            } else {
                text
            });
        }
        ui.horizontal(|ui| {
            let l = ui.label("Command");
            let input = ui
                .add(egui::TextEdit::singleline(&mut self.console_input).desired_width(420.0))
                .labelled_by(l.id);
            let enter = input.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if input.has_focus() {
                self.recall(ui);
            }
            if ui.button("Execute").clicked() || enter {
                self.execute();
                input.request_focus();
            }
        });
    }

    /// Up and down walk the console's history.
    fn recall(&mut self, ui: &egui::Ui) {
        let (up, down) = ui.input(|i| {
            (
                i.key_pressed(egui::Key::ArrowUp),
                i.key_pressed(egui::Key::ArrowDown),
            )
        });
        if up && self.history_pos > 0 {
            self.history_pos -= 1;
            self.console_input = self.history[self.history_pos].clone();
        }
        if down && self.history_pos < self.history.len() {
            self.history_pos += 1;
            self.console_input = self
                .history
                .get(self.history_pos)
                .cloned()
                .unwrap_or_default();
        }
    }

    /// Runs the console line.
    pub fn execute(&mut self) {
        let line = std::mem::take(&mut self.console_input);
        if line.trim().is_empty() {
            return;
        }
        self.history.push(line.clone());
        self.history_pos = self.history.len();
        self.backend.send(Command::Console(line));
    }

    fn information_screen(&mut self, ui: &mut egui::Ui, model: &Model) {
        egui::Grid::new("info").num_columns(2).show(ui, |ui| {
            let row = |ui: &mut egui::Ui, k: &str, v: String| {
                ui.label(k);
                ui.label(v);
                ui.end_row();
            };
            row(ui, "GUI version", env!("CARGO_PKG_VERSION").to_string());
            if let Some(i) = &model.info {
                row(ui, "Node version", i.version.clone());
                row(ui, "User agent", i.user_agent.clone());
                row(ui, "Data directory", i.datadir.clone());
                row(ui, "Startup time", date(i.startup_time));
            }
            row(ui, "Node", model.source.clone());
            if let Some(s) = &model.status {
                row(ui, "Network", s.chain.clone());
                row(ui, "Received", bytes(s.bytes_recv));
                row(ui, "Sent", bytes(s.bytes_sent));
                row(ui, "Mempool transactions", s.mempool_size.to_string());
            }
            row(
                ui,
                "Notifications received",
                model.notifications.to_string(),
            );
        });
        ui.separator();
        ui.strong("Sandbox of each process");
        egui::Grid::new("sandbox")
            .striped(true)
            .num_columns(3)
            .show(ui, |ui| {
                ui.strong("Process");
                ui.strong("PID");
                ui.strong("In force");
                ui.end_row();
                ui.label("bitcoin-gui (this window)");
                ui.label(std::process::id().to_string());
                ui.label("not sandboxed: it holds no keys and parses no network data");
                ui.end_row();
                for p in model.info.iter().flat_map(|i| &i.processes) {
                    ui.label(&p.process);
                    ui.label(p.pid.to_string());
                    ui.label(&p.summary);
                    ui.end_row();
                }
            });
        ui.separator();
        if ui.button("Stop the node").clicked() {
            self.backend.send(Command::ShutdownNode);
        }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // Closing the window ends the link; a node we started then stops.
        self.exit_code
            .store(self.backend.finish(), Ordering::SeqCst);
    }
}

fn status_bar(ui: &mut egui::Ui, model: &Model) {
    ui.horizontal(|ui| {
        match &model.link {
            Link::Connecting => ui.label("Connecting to the node…"),
            Link::Connected => ui.label("Connected"),
            Link::Lost(why) => ui.colored_label(
                Color32::from_rgb(200, 60, 40),
                format!("Disconnected: {why}"),
            ),
        };
        if let Some(s) = &model.status {
            ui.separator();
            let peers = s.connections_in + s.connections_out;
            ui.label(format!(
                "{} · {} block{} · {peers} peer{}",
                s.chain,
                s.blocks,
                if s.blocks == 1 { "" } else { "s" },
                if peers == 1 { "" } else { "s" }
            ));
        }
    });
}

fn overview(ui: &mut egui::Ui, model: &Model) {
    if let Some(s) = &model.status {
        let left = (s.headers - s.blocks).max(0);
        if left > 0 || s.initial_block_download {
            let fraction = if s.headers > 0 {
                s.blocks as f32 / s.headers as f32
            } else {
                0.0
            };
            let eta = model
                .sync
                .eta_secs(left)
                .map(|secs| format!(", about {} left", duration(secs)))
                .unwrap_or_default();
            ui.label(format!(
                "Synchronizing with the network: {left} blocks left{eta}"
            ));
            ui.add(egui::ProgressBar::new(fraction).show_percentage());
        } else {
            ui.label("Up to date");
        }
        egui::Grid::new("tip").num_columns(2).show(ui, |ui| {
            ui.label("Blocks");
            ui.label(s.blocks.to_string());
            ui.end_row();
            ui.label("Last block time");
            ui.label(date(s.tip_time));
            ui.end_row();
            ui.label("Best block");
            ui.label(RichText::new(&s.best_block_hash).monospace());
            ui.end_row();
        });
    } else {
        ui.label("Waiting for the node…");
    }
    ui.separator();
    let Some(w) = &model.wallet else {
        ui.label("No wallet is loaded.");
        return;
    };
    egui::Grid::new("balances").num_columns(2).show(ui, |ui| {
        ui.label("Available");
        ui.label(format!("{:.8} BTC", w.balances.trusted));
        ui.end_row();
        ui.label("Pending");
        ui.label(format!("{:.8} BTC", w.balances.untrusted_pending));
        ui.end_row();
        ui.label("Immature");
        ui.label(format!("{:.8} BTC", w.balances.immature));
        ui.end_row();
        ui.label("Total");
        ui.label(format!(
            "{:.8} BTC",
            w.balances.trusted + w.balances.untrusted_pending + w.balances.immature
        ));
        ui.end_row();
    });
    ui.separator();
    ui.strong("Recent transactions");
    for t in w.transactions.iter().take(5) {
        ui.label(format!(
            "{}  {}  {:+.8} BTC",
            date(t.time),
            t.category,
            t.amount
        ));
    }
}

fn peers_screen(ui: &mut egui::Ui, model: &Model) {
    egui::Grid::new("peers")
        .striped(true)
        .num_columns(8)
        .show(ui, |ui| {
            for h in [
                "Peer id",
                "Address",
                "Direction",
                "Type",
                "Transport",
                "Ping",
                "Sent",
                "Received",
                "User agent",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for p in &model.peers {
                ui.label(p.id.to_string());
                ui.label(&p.address);
                ui.label(if p.inbound { "Inbound" } else { "Outbound" });
                ui.label(&p.connection_type);
                ui.label(&p.transport);
                ui.label(if p.ping_time < 0.0 {
                    "-".to_string()
                } else {
                    format!("{:.0} ms", p.ping_time * 1000.0)
                });
                ui.label(bytes(p.bytes_sent));
                ui.label(bytes(p.bytes_recv));
                ui.label(&p.subversion);
                ui.end_row();
            }
        });
    if model.peers.is_empty() {
        ui.label("No peers connected.");
    }
    ui.separator();
    ui.strong("Banned peers");
    for b in &model.bans {
        ui.label(format!("{} until {}", b.subnet, date(b.banned_until)));
    }
}

/// Paints `text` as a QR code, or says why it cannot.
fn qr_code(ui: &mut egui::Ui, text: &str) {
    let code = match qrcode::QrCode::new(text.as_bytes()) {
        Ok(c) => c,
        Err(e) => {
            ui.label(format!("No QR code: {e}"));
            return;
        }
    };
    let width = code.width();
    let colors = code.to_colors();
    let module = 4.0;
    let quiet = 4.0 * module;
    let side = width as f32 * module + 2.0 * quiet;
    let (rect, _) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, Color32::WHITE);
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (x, y) = ((i % width) as f32, (i / width) as f32);
            let min = rect.min + egui::vec2(quiet + x * module, quiet + y * module);
            painter.rect_filled(
                egui::Rect::from_min_size(min, egui::vec2(module, module)),
                0.0,
                Color32::BLACK,
            );
        }
    }
}

/// A unix time as `YYYY-MM-DD hh:mm:ss` (UTC).
pub fn date(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| unix.to_string())
}

fn bytes(n: u64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{:.1} KB", n as f64 / 1024.0),
        n => format!("{:.1} MB", n as f64 / (1024.0 * 1024.0)),
    }
}

fn duration(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} seconds"),
        s if s < 7200 => format!("{} minutes", s / 60),
        s => format!("{} hours", s / 3600),
    }
}
