// Builds elements without markup strings: text is always text, never HTML.

/** An element with `properties` set and `children` appended. */
export function element(tag, properties = {}, children = []) {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children);
  return node;
}
