from grit_desktop.cli import main

raise SystemExit(main())
