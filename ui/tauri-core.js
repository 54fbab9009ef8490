export const { invoke, Channel, transformCallback } = window.__TAURI__.core;
