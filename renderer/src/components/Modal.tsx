/**
 * The scaffold every modal dialog shares: a native <dialog> opened modally when it mounts; Esc (the dialog's cancel)
 * calls onCancel and does not reach the view behind it (the detail pane there also closes on Esc); a title with an
 * intro, the body, and a footer of actions. With onSubmit the content is a form (Enter submits), else a container.
 */
import { useEffect, useRef, type ReactNode } from 'react';

export interface ModalProps {
  testId: string;
  /** Classes besides `dialog`. */
  className?: string;
  titleId: string;
  title: ReactNode;
  intro?: ReactNode;
  onCancel: () => void;
  onSubmit?: () => void;
  footer: ReactNode;
  children: ReactNode;
}

export function Modal({ testId, className, titleId, title, intro, onCancel, onSubmit, footer, children }: ModalProps) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    // the control that opened the dialog gets the focus back when it goes (it unmounts rather than close(), so the
    // browser would leave the focus on <body>)
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const dlg = ref.current;
    if (dlg && !dlg.open) dlg.showModal();
    return () => {
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  const content = (
    <>
      <header className="dialog-head">
        <h2 id={titleId}>{title}</h2>
        {intro !== undefined && <p className="txt-muted">{intro}</p>}
      </header>
      <div className="dialog-body">{children}</div>
      <footer className="dialog-foot">{footer}</footer>
    </>
  );
  return (
    <dialog
      ref={ref}
      className={className ? `dialog ${className}` : 'dialog'}
      data-testid={testId}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onCancel();
      }}
      onKeyDown={(e) => {
        if (e.key === 'Escape') e.stopPropagation();
      }}
    >
      {onSubmit ? (
        <form
          method="dialog"
          className="dialog-form"
          onSubmit={(e) => {
            e.preventDefault();
            onSubmit();
          }}
        >
          {content}
        </form>
      ) : (
        <div className="dialog-form">{content}</div>
      )}
    </dialog>
  );
}
