//! "Send this tab to…": pushes the current tab to another device and follows
//! its delivery (sent → delivered → opened) from the host's events.

use std::cell::RefCell;
use std::rc::Rc;

use baton_shared::native::{HostMessage, RequestBody};
use baton_shared::session::{DeliveryState, RemoteDevice};
use web_sys::{Document, Element};

use crate::panel::browser;
use crate::panel::client::Client;
use crate::panel::dom::{self, append, attr, el, set_hidden, text};
use crate::panel::model;

pub struct SendControl {
    doc: Document,
    client: Client,
    root: Element,
    select: Element,
    status: Element,
    state: RefCell<SendState>,
}

#[derive(Default)]
struct SendState {
    /// (id, name) of the devices a tab can go to.
    devices: Vec<(String, String)>,
    /// The send being followed: its id, the target's name and how far it got.
    current: Option<(String, String, DeliveryState)>,
    /// Delivery events that arrived before the `tab_sent` reply named their send.
    early: Vec<(String, DeliveryState)>,
}

/// Builds the control into `container`; hidden until there is a device to send to.
pub fn mount(doc: &Document, container: &Element, client: Client) -> Rc<SendControl> {
    let root = el(doc, "form", "send");
    attr(&root, "id", "send-form");
    let label = text(doc, "label", "", "Send this tab to");
    attr(&label, "for", "send-device");
    append(&root, &label);
    let row = el(doc, "div", "row");
    let select = el(doc, "select", "");
    attr(&select, "id", "send-device");
    append(&row, &select);
    let button = text(doc, "button", "", "Send");
    attr(&button, "id", "send-tab");
    attr(&button, "type", "submit");
    append(&row, &button);
    append(&root, &row);
    let status = el(doc, "p", "send-status");
    attr(&status, "id", "send-status");
    attr(&status, "data-state", "idle");
    attr(&status, "role", "status");
    append(&root, &status);
    set_hidden(&root, true);
    append(container, &root);

    let control = Rc::new(SendControl {
        doc: doc.clone(),
        client,
        root: root.clone(),
        select,
        status,
        state: RefCell::new(SendState::default()),
    });
    let me = control.clone();
    dom::on(&root, "submit", move |event| {
        event.prevent_default();
        me.clone().send();
    });
    control
}

impl SendControl {
    /// Fetches the device list itself (the popup has no list of its own).
    pub fn refresh(self: &Rc<Self>) {
        let me = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Ok(HostMessage::Devices { devices, .. }) = me.client.host(RequestBody::ListDevices).await {
                me.set_devices(&devices);
            }
        });
    }

    pub fn set_devices(&self, devices: &[RemoteDevice]) {
        let list: Vec<(String, String)> = devices.iter().map(|d| (d.id.clone(), d.name.clone())).collect();
        let mut state = self.state.borrow_mut();
        if state.devices == list {
            return;
        }
        let chosen = self.select.clone().dyn_into_select().map(|s| s.value()).unwrap_or_default();
        self.select.set_text_content(None);
        for (id, name) in &list {
            let option = text(&self.doc, "option", "", name);
            attr(&option, "value", id);
            if *id == chosen {
                attr(&option, "selected", "");
            }
            append(&self.select, &option);
        }
        set_hidden(&self.root, list.is_empty());
        state.devices = list;
    }

    /// A `delivery` event from the host.
    pub fn on_delivery(&self, send_id: &str, delivery: DeliveryState) {
        let mut state = self.state.borrow_mut();
        match state.current.as_mut() {
            Some((id, name, reached)) if id == send_id => {
                if rank(delivery) > rank(*reached) {
                    *reached = delivery;
                    let (s, line) = model::delivery_line(delivery, name);
                    self.show(s, &line);
                }
            }
            _ => state.early.push((send_id.to_owned(), delivery)),
        }
    }

    fn send(self: Rc<Self>) {
        let device_id = self.select.clone().dyn_into_select().map(|s| s.value()).unwrap_or_default();
        let name = {
            let state = self.state.borrow();
            match state.devices.iter().find(|(id, _)| *id == device_id) {
                Some((_, name)) => name.clone(),
                None => return self.show("error", "Choose a device to send to."),
            }
        };
        self.show("sending", &format!("Sending to {name}…"));
        wasm_bindgen_futures::spawn_local(async move {
            let tabs = match browser::current_window_tabs().await {
                Ok(tabs) => tabs,
                Err(e) => return self.show("error", &format!("Cannot read this window’s tabs: {e}")),
            };
            let Some(tab) = model::tab_to_send(&tabs) else {
                return self.show("no-tab", "Open the web page you want to send, then try again.");
            };
            let url = tab.url.clone().unwrap_or_default();
            let title = tab.title.clone().unwrap_or_default();
            match self.client.host(RequestBody::SendTab { device_id, url, title }).await {
                Ok(HostMessage::TabSent { send_id, .. }) => {
                    let early: Vec<DeliveryState> = {
                        let mut state = self.state.borrow_mut();
                        state.current = Some((send_id.clone(), name.clone(), DeliveryState::Sent));
                        let (mine, others): (Vec<_>, Vec<_>) =
                            state.early.drain(..).partition(|(id, _)| *id == send_id);
                        state.early = others;
                        mine.into_iter().map(|(_, s)| s).collect()
                    };
                    let (s, line) = model::delivery_line(DeliveryState::Sent, &name);
                    self.show(s, &line);
                    for delivery in early {
                        self.on_delivery(&send_id, delivery);
                    }
                }
                Ok(other) => self.show("error", &format!("Unexpected answer: {other:?}")),
                Err(e) => self.show("error", &format!("Not sent: {e}")),
            }
        });
    }

    fn show(&self, state: &str, line: &str) {
        attr(&self.status, "data-state", state);
        self.status.set_text_content(Some(line));
    }
}

fn rank(state: DeliveryState) -> u8 {
    match state {
        DeliveryState::Sent => 0,
        DeliveryState::Delivered => 1,
        DeliveryState::Opened => 2,
    }
}

trait IntoSelect {
    fn dyn_into_select(self) -> Option<web_sys::HtmlSelectElement>;
}

impl IntoSelect for Element {
    fn dyn_into_select(self) -> Option<web_sys::HtmlSelectElement> {
        wasm_bindgen::JsCast::dyn_into(self).ok()
    }
}
