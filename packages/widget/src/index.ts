export { PulseWidget } from './pulse-widget.ts';
export { PulseComposer } from './composer.ts';
